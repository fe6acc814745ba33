"""`tariff train ranker` on a tiny dataset, and cross-validated scoring that never scores an item it trained on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from assistant.engines.ranker import Ranker
from assistant.engines.training import normalise
from assistant.evaluation.crossval import FoldScorer
from assistant.models import SourceKind


def tariff(args: list[str], home: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("tariff")
    env = {**os.environ, "TARIFF_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([str(script), *args], check=False, capture_output=True, text=True, env=env, timeout=900,
                          cwd=home)


def test_train_ranker_cli_and_cross_validated_scoring(tiny_precedent_runtime, tmp_path):
    runtime, a, b = tiny_precedent_runtime
    home = runtime.settings.home
    out, work = tmp_path / "model" / "ranker.json", tmp_path / "cv"
    done = tariff(["train", "ranker", "--out", str(out), "--work", str(work), "--folds", "3",
                   f"tiny_a={a}", f"tiny_b={b}"], home)
    assert done.returncode == 0, done.stderr
    model = Ranker.load(out)
    card = out.with_suffix(".md").read_text(encoding="utf-8")
    for needle in ("tiny_a", "tiny_b", "hs6_top1", "Leave one source out", "tariff train ranker", "--folds 3"):
        assert needle in card
    assert (work / "oof.jsonl.gz").exists() and model.temperature > 0

    folds = json.loads((work / "folds.json").read_text(encoding="utf-8"))
    assert folds["folds"] == 3 and len(folds["items"]) == 30
    by_group: dict[str, set[int]] = {}
    for rec in folds["items"]:
        by_group.setdefault(rec["group"], set()).add(rec["fold"])
    assert all(len(f) == 1 for f in by_group.values()), "a group is never split across folds"

    scorer = FoldScorer(runtime, work)
    texts = [json.loads(line)["description"] for line in a.read_text(encoding="utf-8").splitlines()]
    for text in texts:
        fold = scorer.fold_for(text)
        assert fold is not None and fold not in scorer.trained_on[fold]
        result = scorer.classify(text)
        # The item's own precedent (and its fold's) is never evidence for its answer.
        cited = {c.source_id for s in result.suggestions for c in s.citations}
        own = {p.id for p in runtime.catalog.by_kind[SourceKind.PRECEDENT] if normalise(p.text) == normalise(text)}
        assert own and not cited & own
        assert result.suggestions and all(s.citations for s in result.suggestions)
    assert sum(scorer.scored.values()) == len(texts) and None not in scorer.scored
