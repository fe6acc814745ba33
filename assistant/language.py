"""Spotting a product description that is not in English (the corpus is), by common words of a few languages."""

from __future__ import annotations

import re

# Function words and frequent product words: enough to tell a description's language, never a full model.
MARKERS: dict[str, frozenset[str]] = {
    "en": frozenset("""the of and for with in on made used from is are a an to by or not men's women's mens womens
        cotton leather plastic steel wood glass paper rubber wool silk knitted woven frozen fresh dried parts
        other new used set pack box bottle machine electric""".split()),
    "es": frozenset("""de del la el los las para con sin y o en por un una hombre mujer niño niña algodón cuero
        plástico acero madera vidrio papel caucho lana seda tejido punto congelado fresco seco piezas otro
        nuevo camiseta camisa zapatos botella máquina eléctrico eléctrica""".split()),
    "fr": frozenset("""de du des la le les pour avec sans et ou en par un une homme femme enfant coton cuir
        plastique acier bois verre papier caoutchouc laine soie tricoté tissé congelé frais sec pièces autre
        neuf chemise chaussures bouteille machine électrique""".split()),
    "de": frozenset("""der die das den dem des für mit ohne und oder aus in von ein eine herren damen kinder
        baumwolle leder kunststoff stahl holz glas papier gummi wolle seide gestrickt gewebt gefroren frisch
        getrocknet teile andere neu hemd schuhe flasche maschine elektrisch""".split()),
    "pt": frozenset("""de do da dos das para com sem e ou em por um uma homem mulher criança algodão couro
        plástico aço madeira vidro papel borracha lã seda malha congelado fresco seco peças outro novo
        camiseta camisa sapatos garrafa máquina elétrico elétrica""".split()),
}
NAMES = {"es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese"}
_WORD = re.compile(r"[^\W\d_]+(?:'s)?", re.UNICODE)


def detect(text: str) -> str | None:
    """"es", "fr", "de" or "pt" when the text reads as that language rather than English; None otherwise."""
    words = [w.lower() for w in _WORD.findall(text or "")]
    if not words:
        return None
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in MARKERS.items()}
    english = hits.pop("en")
    # Ties go to the language listed first in NAMES; codes decide, never dictionary order of a hash.
    best = max(NAMES, key=lambda lang: (hits[lang], -list(NAMES).index(lang)))
    if hits[best] >= 2 and hits[best] > 2 * english:
        return best
    return None


def notice(text: str) -> str | None:
    """What the answer says when the description is not in English (None when it is, or cannot be told)."""
    lang = detect(text)
    if lang is None:
        return None
    return (f"The description looks {NAMES[lang]}. The tariff texts searched are in English, so these suggestions "
            f"may be unreliable: add an English description (e.g. “men's cotton T-shirt”) for a dependable answer.")
