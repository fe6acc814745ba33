"""General Rules of Interpretation (GRI 1-6) and Additional U.S. Rules of Interpretation, from a JSON file.

Format: `{"rules": [{"rule": "3(b)", "label": "GRI 3(b)", "text": "..."}, ...]}` (or the bare list), as in
`htsus_legal_notes/general_rules_of_interpretation.json`; the text is the HTSUS front matter
("General Rules of Interpretation" at https://hts.usitc.gov/). Additional U.S. Rules carry rule
"US 1(a)" and are labelled "Additional U.S. Rule 1(a)".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import SourceFormatError
from ..models import Gri, Passage, SourceKind
from .fetch import is_url, read_bytes, resolve
from .hts import HTS_EDITION, HTS_URL

_GRI_RULE = re.compile(r"^[1-6](?:\([a-c]\))?$")
_US_RULE = re.compile(r"^(?:US|U\.S\.)\s*(\d(?:\([a-z]\))?)$", re.IGNORECASE)


def load_gri(src: str | Path, *, edition: str = HTS_EDITION, cache_dir: Path | None = None) -> list[Gri]:
    """Every rule of the file, in file order, each citable on its own ("GRI 3(b)", "Additional U.S. Rule 1(a)")."""
    path = resolve(src, cache_dir=cache_dir, expect=".json")
    source = str(src) if is_url(src) else HTS_URL  # the HTSUS front matter, published by the USITC
    try:
        data = json.loads(read_bytes(path).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, IsADirectoryError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise SourceFormatError(f"{path}: not a GRI JSON file ({reason})") from None
    rules = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(rules, list) or not rules:
        raise SourceFormatError(f'{path}: not a GRI JSON file (expected a list of rules under "rules")')
    out: list[Gri] = []
    for i, r in enumerate(rules, start=1):
        if (
            not isinstance(r, dict)
            or not str(r.get("rule") or "").strip()
            or not str(r.get("text") or "").strip()
        ):
            raise SourceFormatError(f'{path}: rule #{i} needs non-empty "rule" and "text" fields')
        rule = " ".join(str(r["rule"]).split())
        out.append(
            Gri(
                rule=rule,
                label=_label(path, rule),
                text=" ".join(str(r["text"]).split()),
                edition=edition,
                source=source,
            )
        )
    return out


def to_passages(rules: list[Gri]) -> list[Passage]:
    return [
        Passage.make(
            kind=SourceKind.GRI,
            label=g.label,
            text=g.text,
            edition=g.edition,
            source=g.source,
            codes=(),
            chapter=None,
            meta={"rule": g.rule},
        )
        for g in rules
    ]


def _label(path: Path, rule: str) -> str:
    if _GRI_RULE.match(rule):
        return f"GRI {rule}"
    if m := _US_RULE.match(rule):
        return f"Additional U.S. Rule {m.group(1)}"
    raise SourceFormatError(f"{path}: unknown rule {rule[:20]!r} (expected GRI 1-6 or US 1(a)-(d))")
