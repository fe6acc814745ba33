"""Officer decisions become precedents: a decided case changes the next answer for the same goods (real app, real
chromadb, real MiniLM, real SQLite), a correction moves the precedent, and redaction removes it."""

from __future__ import annotations

import pytest
from api_support import bearer
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.auth import create_key
from assistant.config import Settings
from assistant.review.precedents import learn_from_case
from assistant.store.redaction import redact_closed_cases

GOODS = "Children's wooden puzzle game with magnetic fishing rods, packed in a cardboard box"


@pytest.fixture(scope="module")
def own_runtime(tmp_path_factory):
    """A runtime of its own with HS 2022: the precedents written here must not reach other tests' answers."""
    from assistant.runtime import Runtime

    home = tmp_path_factory.mktemp("decisions-home")
    return Runtime.open(Settings(home=home, _env_file=None), auto_ingest=True)


@pytest.fixture
def app_client(own_runtime, tmp_path):
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'tariff.db'}", _env_file=None,
                        learn_from_decisions=True)
    app = create_app(settings, runtime=own_runtime)
    keys = {role: create_key(app.state.desk.db, name=f"{role} one", role=role, org="acme").key
            for role in ("broker", "officer")}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client, keys
    app.state.desk.db.dispose()


def _classify(client, keys) -> dict:
    r = client.post("/v1/classifications", headers=bearer(keys["broker"]), json={"description": GOODS, "top": 10})
    assert r.status_code == 201, r.text
    return r.json()


def _rank(case: dict, code: str) -> int | None:
    codes = [s["code"] for s in case["suggestions"]]
    return codes.index(code) + 1 if code in codes else None


def _cites(case: dict, label: str) -> list[str]:
    return [s["code"] for s in case["suggestions"] if any(c["label"] == label for c in s["citations"])]


def test_a_decided_case_changes_the_next_answer_until_corrected_or_redacted(app_client):
    app, client, keys = app_client
    before = _classify(client, keys)
    codes = [s["code"] for s in before["suggestions"]]
    assert len(codes) >= 6
    first_choice, later = codes[0], codes[5]  # the officer classifies the goods where the engine ranked them 6th
    label = f"Case {before['id']}"
    assert not _cites(before, label)

    r = client.post(f"/v1/classifications/{before['id']}/decisions", headers=bearer(keys["officer"]),
                    json={"action": "override", "code": later, "reason": "a game, not a toy puzzle"})
    assert r.status_code == 201, r.text
    decision = r.json()["current_decision_id"]

    after = _classify(client, keys)
    assert _rank(after, later) == 1, [s["code"] for s in after["suggestions"]]  # the officer decided these goods
    assert _cites(after, label) == [later]  # the case is cited, and only where it voted
    assert [s["confidence"] for s in after["suggestions"]] == sorted(
        (s["confidence"] for s in after["suggestions"]), reverse=True)
    cited = next(c for s in after["suggestions"] if s["code"] == later for c in s["citations"] if c["label"] == label)
    stored = app.state.desk.runtime().catalog.passage(cited["source_id"])
    assert stored is not None and stored.meta["dataset"] == "decisions" and stored.meta["item_id"] == before["id"]
    assert cited["url"] == f"/cases/{before['id']}"  # a page of the deployment, never a local path

    # A correction replaces the precedent: the case now votes for the officer's new code, not the old one.
    r = client.post(f"/v1/classifications/{before['id']}/decisions", headers=bearer(keys["officer"]),
                    json={"action": "override", "code": first_choice, "reason": "corrected", "supersedes": decision})
    assert r.status_code == 201, r.text
    corrected = _classify(client, keys)
    assert _cites(corrected, label) == [first_choice] and _rank(corrected, first_choice) == 1

    # Redaction removes the description, and with it the precedent.
    done = redact_closed_cases(app.state.desk.db, after_days=0)
    assert before["id"] in done.case_ids
    assert learn_from_case(app.state.desk, before["id"]) is False
    redacted = _classify(client, keys)
    assert not _cites(redacted, label)
    assert [s["code"] for s in redacted["suggestions"]] == codes  # as before the decision


def test_a_rejected_case_teaches_nothing(app_client):
    app, client, keys = app_client
    case = _classify(client, keys)
    r = client.post(f"/v1/classifications/{case['id']}/decisions", headers=bearer(keys["officer"]),
                    json={"action": "reject", "reason": "not enough information"})
    assert r.status_code == 201, r.text
    assert learn_from_case(app.state.desk, case["id"]) is False
    assert not _cites(_classify(client, keys), f"Case {case['id']}")
