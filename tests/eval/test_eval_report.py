"""Report, plots and predictions written from a hand-made run (no runtime needed)."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.evaluation.dataset import EvalItem
from assistant.evaluation.metrics import ItemOutcome
from assistant.evaluation.outputs import default_out_dir, write_run
from assistant.evaluation.runner import EvalRun, SystemRun

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run() -> EvalRun:
    golds = ["6109100012", "6110202079", "8471300100", "3920620000", "39206200", "392062"]
    items = [EvalItem(id=f"i{n}", description=f"product {n} | with a pipe", gold_codes=(g,)) for n, g in
             enumerate(golds)]
    answers = ["6109100012", "6109100012", "8471300100", "3921901500", "3920620000", None]
    confs = [0.9, 0.85, 0.6, 0.95, 0.4, None]

    def outcomes(shift: int) -> list[ItemOutcome]:
        out = []
        for item, code, conf in zip(items, answers[shift:] + answers[:shift], confs):
            codes = (code,) if code else ()
            out.append(ItemOutcome(
                id=item.id, description=item.description, gold_codes=item.gold_codes, codes=codes,
                confidences=(conf or 0.5,) if code else (), citation_labels=(("HTS line", "Chapter 61, Note 2"),)
                if code else (), citation_ok=((True, False),) if code else (), code_ok=(True,) if code else (),
                candidates=codes, gold_is_line=(True,), gold6_is_line=(True,), latency_ms=12.0 + len(out),
            ))
        return out

    return EvalRun(dataset=Path("tiny.jsonl"), items=items, engine=SystemRun("offline", outcomes(0), 0.5),
                   baselines=[SystemRun("bm25", outcomes(1), 0.1, confidence="1/rank")],
                   edition="HTS 2025", corpus_snapshot="abc", answer_level=10, top=5, started="now")


def test_write_run_produces_every_artefact(tmp_path):
    run = make_run()
    paths = write_run(run, tmp_path / "out")
    names = sorted(p.name for p in paths.values())
    assert names == sorted(["metrics.json", "predictions.jsonl", "report.md", "accuracy_by_level.png",
                            "reliability.png", "coverage_accuracy.png"])
    for p in paths.values():
        if p.suffix == ".png":
            data = p.read_bytes()
            assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    metrics = json.loads(paths["metrics"].read_text())
    assert metrics["engine"] == "offline" and metrics["n"] == 6
    assert metrics["baselines"]["bm25"]["confidence"] == "1/rank"
    assert metrics["hts8_top1"] is not None and metrics["n_by_level"]["10"] == 4
    predictions = [json.loads(line) for line in paths["predictions"].read_text().splitlines()]
    assert [p["id"] for p in predictions] == [i.id for i in run.items]
    assert predictions[0]["correct"]["hts10_top1"] is True and predictions[5]["correct"]["hts8_top1"] is None
    assert predictions[0]["suggestions"][0]["citations"] == ["HTS line", "Chapter 61, Note 2"]
    assert "bm25" in predictions[0]["baselines"]
    report = paths["report"].read_text()
    assert "| `hs6_top1` |" in report and "bm25" in report
    assert "## The 15 worst misses" in report
    misses = report.split("## The 15 worst misses")[1]
    # the most confident wrong answer (0.95) is listed before the abstention
    assert misses.index("i3") < misses.index("(no answer)")
    assert "product 3 \\| with a pipe" in misses  # pipes escaped inside table cells
    assert "![Reliability](reliability.png)" in report


def test_default_out_dir_names_date_dataset_and_engine():
    path = default_out_dir(Path("/x/atlas dev.jsonl"), "llm")
    assert path.parent == Path("eval/reports")
    assert path.name.endswith("-atlas-dev-llm") and path.name[:4].isdigit()
