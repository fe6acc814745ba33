"""Writing an evaluation run to a folder: metrics.json, predictions.jsonl, report.md and the PNG plots."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from .metrics import LEVEL_NAMES, ItemOutcome, topk_correct
from .plots import write_plots
from .report import render_report
from .runner import EvalRun

CANDIDATES_KEPT = 20


def default_out_dir(dataset: Path, engine: str, *, root: Path = Path("eval/reports")) -> Path:
    """eval/reports/<YYYY-MM-DD>-<dataset stem>-<engine>/"""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset.stem)
    return root / f"{dt.date.today().isoformat()}-{stem}-{engine}"


def correct_flags(o: ItemOutcome) -> dict[str, bool | None]:
    """Per-item flags behind the headline figures (None: the gold is too short to be scored at that level)."""
    flags = {f"{name}_top1": topk_correct(o, level) for level, name in LEVEL_NAMES.items()}
    flags["hs6_top5"] = topk_correct(o, 6, 5)
    flags["hts10_top5"] = topk_correct(o, 10, 5)
    flags["hs6_top1_any"] = topk_correct(o, 6, any_gold=True)
    return flags


def prediction_record(o: ItemOutcome, baselines: dict[str, ItemOutcome]) -> dict[str, Any]:
    """One line of predictions.jsonl: the engine's answer in full, the baselines' top codes beside it."""
    return {
        "id": o.id,
        "description": o.description,
        "gold_codes": list(o.gold_codes),
        "suggestions": [
            {"code": code, "confidence": conf, "valid_code": ok, "citations": list(labels)}
            for code, conf, ok, labels in zip(o.codes, o.confidences, o.code_ok, o.citation_labels)
        ],
        "candidates": list(o.candidates[:CANDIDATES_KEPT]),
        "correct": correct_flags(o),
        "clarifying": o.clarifying,
        "abstained": o.abstained,
        "degraded": o.degraded,
        "latency_ms": round(o.latency_ms, 1),
        "usage": o.usage or None,
        "error": o.error,
        "baselines": {
            name: {"codes": list(b.codes), "correct": correct_flags(b)} for name, b in baselines.items()
        },
    }


def write_run(run: EvalRun, out_dir: Path, *, metrics: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write every artefact of `run` into `out_dir` (created); returns their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    m = metrics if metrics is not None else run.metrics()
    paths = {"metrics": out_dir / "metrics.json", "predictions": out_dir / "predictions.jsonl",
             "report": out_dir / "report.md"}
    paths["metrics"].write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with paths["predictions"].open("w", encoding="utf-8") as fh:
        for i, o in enumerate(run.engine.outcomes):
            record = prediction_record(o, {b.name: b.outcomes[i] for b in run.baselines})
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    plots = write_plots(m, out_dir)
    paths.update({title: out_dir / name for title, name in plots.items()})
    paths["report"].write_text(render_report(m, run.engine.outcomes, plots=plots), encoding="utf-8")
    return paths
