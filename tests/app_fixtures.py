"""Fixtures for the API, review and store tests: the real app (TestClient) on a fresh database, SQLite and, when
TARIFF_TEST_POSTGRES_URL is set, PostgreSQL (each test in its own schema); keys for every role."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from api_support import SCREWS, T_SHIRT, bearer  # noqa: F401  (re-exported for fixtures below)
from fastapi.testclient import TestClient
from pg_support import pg_schema_url

from assistant.auth import create_key
from assistant.config import Settings
from assistant.server import create_app

PG_ENV = "TARIFF_TEST_POSTGRES_URL"



@pytest.fixture(scope="session")
def runtime(request: pytest.FixtureRequest):
    """The HS 2022 runtime of tests/conftest.py (offline engine, embedded corpus)."""
    return request.getfixturevalue("hs_runtime")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new schema on the PostgreSQL server of TARIFF_TEST_POSTGRES_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tariff.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL run of this test is skipped")
    yield from pg_schema_url(base, prefix="t_")


@dataclass
class Api:
    """A running app with a key per role: brokers of two organisations, two officers, an admin."""

    client: TestClient
    app: Any
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def desk(self):
        return self.app.state.desk

    def h(self, who: str) -> dict[str, str]:
        return bearer(self.keys[who])

    def get(self, path: str, who: str, **kw: Any):
        return self.client.get(path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, who: str, **kw: Any):
        return self.client.post(path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, who: str, **kw: Any):
        return self.client.delete(path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def classify(self, who: str = "broker_a", **body: Any) -> dict[str, Any]:
        body.setdefault("description", T_SHIRT)
        r = self.post("/v1/classifications", who, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def decide(self, case_id: str, who: str = "officer", **body: Any):
        return self.post(f"/v1/classifications/{case_id}/decisions", who, json=body)


ROLES = {
    "broker_a": ("broker", "Ann Broker", "acme"),
    "broker_b": ("broker", "Bob Broker", "globex"),
    "officer": ("officer", "Olga Officer", "customs"),
    "officer2": ("officer", "Otto Officer", "customs"),
    "admin": ("admin", "Ada Admin", "customs"),
}


@pytest.fixture
def make_api(runtime, database_url, tmp_path) -> Iterator[Any]:
    """Build an Api on a fresh database with optional Settings overrides: make_api(four_eyes_override=True)."""
    opened: list[tuple[TestClient, Any]] = []

    def make(**overrides: Any) -> Api:
        home = tmp_path / f"home{len(opened)}"
        if opened and "audit_key" not in overrides:  # apps on one database share its audit key, as servers must
            home.mkdir(mode=0o700)
            shutil.copy2(tmp_path / "home0" / "audit.key", home / "audit.key")
        settings = Settings(home=home, database_url=database_url, **overrides)
        app = create_app(settings, runtime=runtime)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append((client, app))
        api = Api(client=client, app=app)
        for who, (role, name, org) in ROLES.items():
            new = create_key(app.state.desk.db, name=name, role=role, org=org)
            api.keys[who], api.ids[who] = new.key, new.id
        return api

    yield make
    for client, app in opened:
        client.__exit__(None, None, None)
        app.state.desk.db.dispose()


@pytest.fixture
def api(make_api) -> Api:
    return make_api()
