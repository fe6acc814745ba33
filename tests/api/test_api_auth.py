"""Keys, roles and limits through the real app and the `tariff keys` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import T_SHIRT, bearer

from assistant.cli import main


def test_missing_unknown_and_malformed_keys_are_401(api):
    for headers in ({}, bearer("tk_" + "x" * 43), bearer("not-a-key"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        r = api.client.get("/v1/classifications", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"] == "unauthorized"
        assert r.headers["WWW-Authenticate"] == "Bearer"
    assert api.client.post("/v1/classifications", json={"description": T_SHIRT}).status_code == 401


def test_role_matrix(api):
    allowed = {
        ("GET", "/v1/keys"): {"admin"},
        ("GET", "/v1/audit/export"): {"admin"},
        ("GET", "/v1/review/queue"): {"officer", "officer2", "admin"},
        ("GET", "/v1/classifications"): {"broker_a", "broker_b", "officer", "officer2", "admin"},
        ("GET", "/v1/codes/6109.10"): {"broker_a", "broker_b", "officer", "officer2", "admin"},
    }
    for (method, path), roles in allowed.items():
        for who in api.keys:
            r = api.client.request(method, path, headers=api.h(who))
            expected = 200 if who in roles else 403
            assert r.status_code == expected, (method, path, who, r.text)
    r = api.post("/v1/keys", "officer", json={"name": "x", "role": "broker"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_admin_manages_keys_and_the_key_is_shown_once(api):
    r = api.post("/v1/keys", "admin", json={"name": "Carla Clerk", "role": "broker", "org": "acme"})
    assert r.status_code == 201
    new = r.json()
    assert new["key"].startswith("tk_") and len(new["key"]) > 40
    listed = api.get("/v1/keys", "admin").json()
    assert new["id"] in {k["id"] for k in listed}
    assert all("key" not in k and "key_hash" not in k for k in listed)
    # the new key works, with its role and organisation
    assert api.client.get("/v1/classifications", headers=bearer(new["key"])).status_code == 200
    assert api.client.get("/v1/review/queue", headers=bearer(new["key"])).status_code == 403
    revoked = api.delete(f"/v1/keys/{new['id']}", "admin")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    r = api.client.get("/v1/classifications", headers=bearer(new["key"]))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert api.delete("/v1/keys/knothere", "admin").status_code == 404
    assert api.post("/v1/keys", "admin", json={"name": "x", "role": "superuser"}).status_code == 422
    events = [json.loads(line)["type"] for line in api.get("/v1/audit/export", "admin").text.splitlines()]
    assert "key_created" in events and "key_revoked" in events


def test_no_plaintext_key_in_the_database_files(api, tmp_path):
    if not api.desk.db.is_sqlite:
        pytest.skip("reads the SQLite files")
    api.classify()
    secrets = list(api.keys.values())
    db_file = Path(api.desk.db.url.database)
    files = [p for p in db_file.parent.iterdir() if p.name.startswith(db_file.name)]
    assert db_file in files
    for f in files:  # the database, its WAL and shared-memory files
        data = f.read_bytes()
        for key in secrets:
            assert key.encode() not in data, f.name
            assert key[3:].encode() not in data, f.name


def test_rate_limit_answers_429_with_retry_after(make_api):
    api = make_api(rate_limit_per_minute=3)
    answers = [api.get("/v1/classifications", "broker_a") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    # every answer says how much is left (IETF RateLimit header fields)
    assert [r.headers["RateLimit-Limit"] for r in answers[:3]] == ["3", "3", "3"]
    assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert 1 <= int(answers[2].headers["RateLimit-Reset"]) <= 60
    r = api.get("/v1/classifications", "broker_a")
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["RateLimit-Reset"] == r.headers["Retry-After"]
    # the limit is per key
    assert api.get("/v1/classifications", "broker_b").status_code == 200


def test_cli_keys_create_list_revoke(tmp_path, capsys, monkeypatch):
    from assistant.config import get_settings

    monkeypatch.setenv("TARIFF_HOME", str(tmp_path))
    monkeypatch.delenv("TARIFF_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["keys", "create", "--role", "officer", "--name", "Olga", "--org", "customs"]) == 0
        out = capsys.readouterr().out
        key = out.strip().splitlines()[-1]
        assert key.startswith("tk_") and "shown" not in key
        assert main(["keys", "list"]) == 0
        listing = capsys.readouterr().out
        assert "officer" in listing and "Olga (customs)" in listing and key not in listing
        key_id = listing.strip().splitlines()[1].split()[0]
        assert main(["keys", "revoke", key_id]) == 0
        assert "Revoked" in capsys.readouterr().out
        assert main(["keys", "list"]) == 0 and "revoked" in capsys.readouterr().out
        assert main(["keys", "revoke", "nope"]) == 2
        assert "error: no API key" in capsys.readouterr().err
        assert main(["keys", "create", "--role", "king", "--name", "x"]) == 2
        assert "role must be one of" in capsys.readouterr().err
        assert key.encode() not in (tmp_path / "tariff.db").read_bytes()
    finally:
        get_settings.cache_clear()
