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


def test_broker_keys_need_an_organisation(api, tmp_path, capsys, monkeypatch):
    """Keys without `org` shared one `default` organisation: two companies saw each other's cases (issue 17)."""
    from assistant.auth import DEFAULT_ORG, create_key
    from assistant.config import get_settings

    r = api.post("/v1/keys", "admin", json={"name": "No Org", "role": "broker"})
    assert r.status_code == 422 and "needs an organisation" in r.json()["detail"]
    assert api.post("/v1/keys", "admin", json={"name": "Blank", "role": "broker", "org": " "}).status_code == 422
    assert api.post("/v1/keys", "admin", json={"name": "Olga 2", "role": "officer"}).status_code == 201
    monkeypatch.setenv("TARIFF_HOME", str(tmp_path))
    monkeypatch.delenv("TARIFF_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["keys", "create", "--role", "broker", "--name", "Bea"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: a broker key needs an organisation")
        assert main(["keys", "create", "--role", "broker", "--name", "Bea\x00", "--org", "acme"]) == 2  # NUL
        assert "printable" in capsys.readouterr().err
        # A key from an older version, stored without an organisation of its own, is listed with a warning.
        from assistant.store.db import Database

        db = Database.open()
        old = create_key(db, name="Legacy Broker", role="broker", org="acme")
        with db.write() as s:
            from assistant.store.tables import ApiKey

            s.get(ApiKey, old.id).org = DEFAULT_ORG
        db.dispose()
        assert main(["keys", "list"]) == 0
        captured = capsys.readouterr()
        assert "Legacy Broker (default)" in captured.out
        assert f"warning: 1 active broker key(s) share the 'default' organisation and see each other's cases: {old.id}" \
            in captured.err
    finally:
        get_settings.cache_clear()


def test_files_under_tariff_home_are_private(api):
    """The database, the audit key and the session secret: 0600 in a 0700 home (tariff.db was 0644)."""
    import stat
    from pathlib import Path

    home = Path(api.desk.settings.home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert api.client.get("/signin").status_code == 200  # the web UI made its session secret
    for name in ("audit.key", "session.secret"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    if api.desk.db.is_sqlite:
        database = Path(api.desk.db.url.database)
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
        extras = list(database.parent.glob(database.name + "-*"))
        assert extras  # the write-ahead log and its index, which take the database's mode
        for extra in extras:
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra.name


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    import os
    import stat

    from assistant.config import Settings
    from assistant.store.db import Database

    home = tmp_path / "old-home"
    home.mkdir()
    (home / "tariff.db").touch()
    os.chmod(home / "tariff.db", 0o644)
    db = Database.open(Settings(home=home, _env_file=None))
    db.dispose()
    assert stat.S_IMODE((home / "tariff.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "audit.key").stat().st_mode) == 0o600
