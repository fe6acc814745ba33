"""Smoke evaluation for CI: the offline engine on the first dev items must stay above the floors in eval/smoke_floor.json.

The floors are a regression guard (measured dev score minus a margin), not a target. Needs the shared data and the
full US corpus (`us_runtime`), so it skips with a reason where they are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.evaluation.dataset import load_dataset
from assistant.evaluation.runner import evaluate

FLOOR_FILE = Path(__file__).resolve().parents[2] / "eval" / "smoke_floor.json"

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_offline_engine_stays_above_the_smoke_floors(shared_data, us_runtime):
    config = json.loads(FLOOR_FILE.read_text(encoding="utf-8"))
    assert 1 <= config["limit"] <= 20, "the smoke run must stay small (< 2 minutes)"
    items = load_dataset(shared_data / config["dataset"], limit=config["limit"])
    run = evaluate(items, runtime=us_runtime, dataset=shared_data / config["dataset"], engine=config["engine"],
                   top=5, baselines=False, progress=False)
    metrics = run.metrics()
    assert metrics["n"] == len(items) and metrics["errors"] == 0
    assert metrics["answer_level"] == 10, "the smoke floors are for the full US tariff"
    shortfalls = {
        key: (metrics[key], floor) for key, floor in config["floors"].items() if (metrics[key] or 0.0) < floor
    }
    assert not shortfalls, f"below the smoke floors (measured, floor): {shortfalls}"
