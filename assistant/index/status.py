"""What is indexed: passages per source kind and edition, the snapshot, the model and where things live."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..config import Settings
from ..models import SourceKind
from .catalog import Catalog
from .embed import model_label
from .vectorstore import VectorStore


def describe(catalog: Catalog, *, settings: Settings, store: VectorStore, namespace: str) -> dict[str, Any]:
    """The status `tariff status` prints and the tests read."""
    return {
        "passages": len(catalog),
        "counts": catalog.counts(),
        "details": _details(catalog),
        "snapshot": catalog.snapshot,
        "edition": catalog.edition if len(catalog) else None,
        "embedding_model": model_label(settings.resolved_embedding_model()),
        "embedding_model_path": settings.resolved_embedding_model(),
        "embedding_runtime": settings.embedding_runtime,
        "store": store.location,
        "collection": namespace,
        "home": str(settings.home),
    }


def _details(catalog: Catalog) -> dict[str, Any]:
    """What a reviewer asks first: lines per level, notes per kind, rules, distinct rulings."""

    def levels(kind: SourceKind) -> dict[str, int]:
        return {str(k): v for k, v in sorted(Counter(p.level for p in catalog.by_kind[kind] if p.level).items())}

    gris = catalog.by_kind[SourceKind.GRI]
    return {
        "hts_lines_by_level": levels(SourceKind.HTS),
        "hs_lines_by_level": levels(SourceKind.HS),
        "notes_by_kind": dict(sorted(Counter(p.meta.get("kind", "note") for p in catalog.by_kind[SourceKind.NOTE]).items())),
        "notes_chapters": len({p.chapter for p in catalog.by_kind[SourceKind.NOTE] if p.chapter}),
        "gri_rules": sum(1 for p in gris if p.label.startswith("GRI")),
        "additional_us_rules": sum(1 for p in gris if not p.label.startswith("GRI")),
        "rulings": len(catalog.rulings),
        "rulings_with_codes": sum(1 for ps in catalog.rulings.values() if ps and ps[0].codes),
    }
