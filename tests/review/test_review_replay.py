"""Replaying a case: identical on an unchanged index, a named difference after a source changed, officers only,
recorded in the audit trail without the description."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from api_support import T_SHIRT

from assistant.auth import Principal, Role
from assistant.config import Settings
from assistant.review import ClassificationRequest, Desk, create_case, replay_case
from assistant.store.db import Database

REPO = Path(__file__).resolve().parents[2]
HTS_SAMPLE = REPO / "corpus" / "samples" / "hts" / "hts_2025_rev24_excerpt.csv"
VITAMIN_E = "3004503000"


def test_an_unchanged_index_replays_identically(api):
    case = api.classify(description=T_SHIRT)
    r = api.get(f"/v1/classifications/{case['id']}/replay", "officer")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["identical"] is True and report["differences"] == []
    assert report["replayed_codes"] == report["stored_codes"] == [s["code"] for s in case["suggestions"]]
    assert report["changed"] == {"corpus_snapshot": False, "edition": False, "engine_version": False, "model": False}
    assert report["stored"]["engine_version"] == case["engine_version"]
    assert case["engine_version"].startswith("offline ") and "embedder:" in case["engine_version"]
    assert api.get(f"/v1/classifications/{case['id']}/replay", "admin").status_code == 200


def test_brokers_may_not_replay(api):
    case = api.classify()
    r = api.get(f"/v1/classifications/{case['id']}/replay", "broker_a")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert api.get("/v1/classifications/" + "0" * 32 + "/replay", "officer").status_code == 404


def test_a_replay_is_audited_without_the_description(api):
    case = api.classify(description=T_SHIRT)
    api.get(f"/v1/classifications/{case['id']}/replay", "officer")
    events = api.get(f"/v1/classifications/{case['id']}/audit", "officer").json()
    [replayed] = [e for e in events if e["type"] == "case_replayed"]
    assert replayed["actor_name"] == "Olga Officer"
    data = replayed["data"]
    assert data["identical"] is True and data["replayed_codes"] == [s["code"] for s in case["suggestions"]]
    assert data["changed"]["corpus_snapshot"] is False
    assert "T-shirt" not in json.dumps(replayed)
    made = [e for e in events if e["type"] == "suggestions_made"]
    assert made[-1]["data"]["engine_version"] == case["engine_version"]


def _write_hts(source: Path, target: Path, *, vitamin_e: str) -> Path:
    with source.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows:
        if row and row[0] == "3004.50.30.00":
            row[2] = vitamin_e
    with target.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows)
    return target


@pytest.fixture
def sample_desk(tmp_path):
    """A desk on its own home with the HTS sample indexed (a copy the test may change and re-ingest)."""
    from assistant.runtime import Runtime

    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'tariff.db'}", _env_file=None)
    runtime = Runtime.open(settings, auto_ingest=False)
    hts = shutil.copy(HTS_SAMPLE, tmp_path / "hts.csv")
    runtime.ingest("hts", hts, progress=False)
    db = Database.open(settings)
    yield Desk(db=db, settings=settings, _runtime=runtime), tmp_path
    db.dispose()


def test_a_changed_source_is_named_in_the_replay(sample_desk):
    desk, folder = sample_desk
    broker = Principal(key_id="b1", name="Ann Broker", role=Role.BROKER, org="acme")
    officer = Principal(key_id="o1", name="Olga Officer", role=Role.OFFICER, org="customs")
    case = create_case(desk, broker, ClassificationRequest(description="vitamin E tablets, tocopherol"))
    assert VITAMIN_E in [s.code for s in case.suggestions]
    assert replay_case(desk, officer, case.id).identical

    changed = _write_hts(HTS_SAMPLE, folder / "hts-rev.csv", vitamin_e="Vitamin E (tocopherols and their esters)")
    desk.runtime().ingest("hts", changed, progress=False)
    report = replay_case(desk, officer, case.id)
    assert not report.identical
    assert report.changed["corpus_snapshot"] and not report.changed["engine_version"]
    assert report.current["corpus_snapshot"] == desk.runtime().catalog.snapshot != case.corpus_snapshot
    [cited] = [d for d in report.differences if d.what == "citations" and d.code == VITAMIN_E]
    before = {c["label"]: c["source_id"] for c in cited.stored}
    after = {c["label"]: c["source_id"] for c in cited.replayed}
    assert before["HTS 3004.50.30.00"] != after["HTS 3004.50.30.00"]  # same line, new text: a new passage id
