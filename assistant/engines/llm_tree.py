"""The nomenclature as the tree walk reads it: chapters by section, a chapter's headings, a heading's lines, texts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from ..codes import format_code
from ..models import Passage, TariffLine
from .llm_prompt import clip


class Tree:
    """Views of one catalog's nomenclature (one corpus snapshot) for the walk's stages; memoised per walk."""

    def __init__(self, catalog: Any):
        self.catalog, self.nomenclature = catalog, catalog.nomenclature
        self._leaves: dict[str, list[TariffLine]] = {}

    def chapters(self) -> list[str]:
        """The chapters that have tariff lines, in code order."""
        return list(dict.fromkeys(h[:2] for h in _leaf_index(self.nomenclature)))

    def headings(self, chapter: str) -> list[str]:
        """The headings of a chapter that have tariff lines, in code order."""
        return [h for h in _leaf_index(self.nomenclature) if h[:2] == chapter]

    def leaves(self, prefix: str) -> list[TariffLine]:
        """The tariff lines under a code (a heading the tariff prints only as its lines works too)."""
        if prefix not in self._leaves:
            index = _leaf_index(self.nomenclature)
            self._leaves[prefix] = [ln for ln in index.get(prefix[:4], []) if ln.code.startswith(prefix)]
        return self._leaves[prefix]

    def children(self, roots: list[str]) -> list[TariffLine]:
        """The next coded level under each root: for each line below, its highest coded ancestor below the root."""
        out: dict[str, TariffLine] = {}
        for root in roots:
            for leaf in self.leaves(root):
                node = next((a for a in leaf.ancestors if len(a) > len(root) and a in self.nomenclature), leaf.code)
                out.setdefault(node, self.nomenclature.line(node))
        return list(out.values())

    def rows(self, roots: list[str], lines: list[TariffLine], *, label: Callable[[str], str]) -> list[str]:
        """The lines under `roots` as an indented tree: the uncoded texts above them once, then one row per line,
        `label(code)` | code | text; an "Other" row also names the text it is the other of."""
        out: list[str] = []
        shown: list[str] = []
        for line in lines:
            root = next(r for r in roots if line.code.startswith(r))
            above = self.below(root, line)
            depth = 0
            while depth < min(len(above), len(shown)) and above[depth] == shown[depth]:
                depth += 1
            out += [f"{'  ' * i}{above[i]}" for i in range(depth, len(above))]
            shown = above
            text = line.description.strip()
            if text.lower().startswith("other") and above:
                text += f" (other than the rows above under: {above[-1].rstrip(':')})"
            if not self.nomenclature.is_leaf(line.code):
                text += f" [{len(self.leaves(line.code))} lines]"
            out.append(f"{'  ' * len(above)}{label(line.code)} | {format_code(line.code)} | {text}")
        return out

    def below(self, root: str, line: TariffLine) -> list[str]:
        """The texts of the levels between `root` and `line` (uncoded headers and coded parents alike)."""
        top = self.nomenclature.get(root)
        skip = len(top.path) + 1 if top is not None else 2
        return [clip(t, 160) for t in line.path[skip:]]

    def text(self, code: str) -> str:
        """The description of a chapter, heading or line (from HS 2022 when the tariff prints none)."""
        line = self.nomenclature.get(code) or (self.catalog.hs.get(code) if self.catalog.hs else None)
        if line is not None:
            return line.description
        leaves = self.leaves(code)
        return leaves[0].path[min(1, len(leaves[0].path) - 1)] if leaves and leaves[0].path else code

    def passage(self, code: str) -> Passage | None:
        """The stored passage of a code, else (a heading printed only as its lines) that of its first line."""
        found = self.catalog.line_passage(code)
        if found is None and (leaves := self.leaves(code)):
            found = self.catalog.line_passage(leaves[0].code)
        return found


def fit(rows: list[str], chars: int) -> list[str]:
    """The first rows that fit in `chars` characters (the stage budget)."""
    out, used = [], 0
    for row in rows:
        used += len(row) + 1
        if used > chars:
            break
        out.append(row)
    return out


_LEAF_INDEX: WeakKeyDictionary = WeakKeyDictionary()  # nomenclature -> heading -> its lines
_LEAF_LOCK = threading.Lock()


def _leaf_index(nomenclature: Any) -> dict[str, list[TariffLine]]:
    """Heading -> its tariff lines in code order, built once per nomenclature (a corpus snapshot)."""
    with _LEAF_LOCK:
        index = _LEAF_INDEX.get(nomenclature)
        if index is None:
            index = {}
            for leaf in sorted(nomenclature.leaves(), key=lambda ln: ln.code):
                index.setdefault(leaf.code[:4], []).append(leaf)
            _LEAF_INDEX[nomenclature] = index
        return index
