"""Fixtures of the ranker tests: a small HS-only runtime with a few precedents of two labelled datasets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

GOODS = {  # subheading -> ways of describing such goods
    "610910": ["men's cotton t-shirt, knitted", "crew neck tee of cotton jersey", "cotton singlet, knit",
               "short sleeve cotton t-shirt for boys", "printed cotton tee shirt"],
    "847130": ["laptop computer", "portable notebook computer 15 inch", "tablet computer with keyboard",
               "ultrabook laptop, 1.2 kg", "portable data processing machine"],
    "070200": ["fresh tomatoes", "cherry tomatoes, fresh, in punnets", "vine tomatoes", "plum tomatoes, chilled",
               "fresh beef tomatoes"],
    "910111": ["gold wrist watch, mechanical, automatic", "mechanical wristwatch with 18k gold case",
               "automatic watch, precious metal case", "gold plated? no, solid gold mechanical watch",
               "men's mechanical dress watch in gold"],
    "392062": ["PET plastic sheet, not cellular", "polyethylene terephthalate film", "clear PET plates",
               "PET foil for packaging", "sheets of polyethylene terephthalate"],
    "940161": ["upholstered wooden armchair", "sofa with wooden frame, upholstered", "padded dining chair, wood",
               "wooden frame lounge chair with cushions", "upholstered wood stool"],
}


def write_tiny_datasets(folder: Path) -> tuple[Path, Path]:
    """tiny_a (JSONL, US-style ids) and tiny_b (CSV, UK-style trader list), disjoint descriptions."""
    a, b = folder / "tiny_a.jsonl", folder / "tiny_b.csv"
    rows_b = []
    with a.open("w", encoding="utf-8") as fh:
        for code, texts in GOODS.items():
            for i, text in enumerate(texts):
                if i < 3:
                    fh.write(json.dumps({"id": f"A{code}{i}", "description": text, "gold_codes": [code]}) + "\n")
                else:
                    rows_b.append((text, code + "00"))
    with b.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Goods Description", "Commodity Code"])
        w.writerows(rows_b)
    return a, b


@pytest.fixture(scope="session")
def tiny_precedent_runtime(tmp_path_factory: pytest.TempPathFactory):
    """HS 2022 indexed (as a first run does) plus the tiny datasets ingested as precedents; (runtime, paths)."""
    from assistant.config import Settings
    from assistant.runtime import Runtime

    home = tmp_path_factory.mktemp("ranker-home")
    runtime = Runtime.open(Settings(home=home, _env_file=None), auto_ingest=True)
    a, b = write_tiny_datasets(tmp_path_factory.mktemp("tiny-data"))
    runtime.ingest_precedents(a, source="tiny_a", progress=False)
    runtime.ingest_precedents(b, source="tiny_b", jurisdiction="uk", progress=False)
    return runtime, a, b
