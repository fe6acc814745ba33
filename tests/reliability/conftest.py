"""Fixtures of the reliability tests: the real app with a key per role, fresh databases (SQLite and, when
TARIFF_TEST_POSTGRES_URL is set, PostgreSQL), homes cloned from the HS 2022 runtime, and real `tariff serve`
processes on 127.0.0.1 that a test may kill and restart."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

TARIFF = Path(sys.executable).with_name("tariff")
ROLES = {  # who -> (role, name, organisation)
    "broker": ("broker", "Ann Broker", "acme"),
    "officer": ("officer", "Olga Officer", "customs"),
    "admin": ("admin", "Ada Admin", "customs"),
}
CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ---------------------------------------------------------------- databases


# database_url: tests/app_fixtures.py (a fresh SQLite file, or a schema on TARIFF_TEST_POSTGRES_URL)


# ---------------------------------------------------------------- the app in process


@dataclass
class Api:
    """The real app (TestClient) with one key per role."""

    client: TestClient
    app: Any
    keys: dict[str, str] = field(default_factory=dict)
    browsers: list[TestClient] = field(default_factory=list)

    @property
    def desk(self):
        return self.app.state.desk

    def h(self, who: str) -> dict[str, str]:
        return bearer(self.keys[who]) if who in self.keys else {}

    def post(self, path: str, who: str, **kw: Any):
        return self.client.post(path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def get(self, path: str, who: str, **kw: Any):
        return self.client.get(path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def browser(self, who: str) -> TestClient:
        """A client signed in to the web UI with `who`'s key (session cookie), as a browser would be."""
        client = TestClient(self.app, raise_server_exceptions=False)
        self.browsers.append(client)
        token = CSRF_META.search(client.get("/signin").text).group(1)
        r = client.post("/signin", data={"api_key": self.keys[who], "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client


def add_keys(db, keys: dict[str, str]) -> None:
    from assistant.auth import create_key

    for who, (role, name, org) in ROLES.items():
        keys[who] = create_key(db, name=name, role=role, org=org).key


@pytest.fixture(scope="session")
def keys_for() -> Callable[[Any], dict[str, str]]:
    """keys_for(db) -> a new key for every role of ROLES, by name (broker, officer, admin)."""

    def make(db) -> dict[str, str]:
        keys: dict[str, str] = {}
        add_keys(db, keys)
        return keys

    return make


@pytest.fixture
def make_api(hs_runtime, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """make_api(**settings) -> an Api on a fresh database (SQLite unless database_url=...) and the HS 2022 index."""
    from assistant.config import Settings
    from assistant.server import create_app

    opened: list[Api] = []

    def make(**overrides: Any) -> Api:
        from assistant.runtime import Runtime

        overrides.setdefault("home", tmp_path / f"home{len(opened)}")
        runtime = hs_runtime
        llm = {k: v for k, v in overrides.items() if k.startswith("llm_") or k == "engine"}
        if llm:  # the engines read the runtime's settings: a runtime on the same index with the LLM settings
            # These tests script the one-shot prompt (C1.. candidates) and expect every request to reach the model.
            llm = {"llm_strategy": "oneshot", "llm_cache": False, **llm}
            runtime = Runtime(hs_runtime.settings.model_copy(update=llm), hs_runtime.store,
                              embedder=hs_runtime.embedder)
        app = create_app(Settings(_env_file=None, **overrides), runtime=runtime)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        api = Api(client=client, app=app)
        add_keys(app.state.desk.db, api.keys)
        opened.append(api)
        return api

    yield make
    for api in opened:
        for browser in api.browsers:
            browser.close()
        api.client.__exit__(None, None, None)
        api.desk.db.dispose()


# ---------------------------------------------------------------- homes and server processes


@pytest.fixture
def clone_home(hs_runtime) -> Callable[[Path], Path]:
    """clone_home(dst) -> a new TARIFF_HOME holding a copy of the HS 2022 index (no database, no keys)."""
    source = Path(hs_runtime.settings.home)

    def clone(dst: Path) -> Path:
        dst.mkdir(parents=True, exist_ok=True)
        for part in ("chroma", "cache"):
            if (source / part).exists():
                shutil.copytree(source / part, dst / part, dirs_exist_ok=True)
        return dst

    return clone


@dataclass
class Server:
    """A `tariff serve` process on 127.0.0.1 with its environment; its output goes to `log`."""

    home: Path
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 120.0) -> Server:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([str(TARIFF), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=self.env, cwd=self.home, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"tariff serve exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"tariff serve did not answer within {timeout} s:\n{self.output()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """`tariff ARGS` on this server's home and database (the server may be stopped)."""
        return subprocess.run([str(TARIFF), *args], env=self.env, cwd=self.home, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def h(self, who: str) -> dict[str, str]:
        return bearer(self.keys[who])


@pytest.fixture
def start_server(clone_home, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """start_server(database_url=None, **env) -> a running `tariff serve` on a cloned home, keys for every role.

    Extra keyword arguments become TARIFF_* variables (chroma_url="http://..." -> TARIFF_CHROMA_URL)."""
    from assistant.config import Settings
    from assistant.store.db import Database

    servers: list[Server] = []
    audit_key = secrets.token_urlsafe(32)  # servers sharing one database sign its audit trail with one key

    def start(database_url: str | None = None, *, home: Path | None = None, **env: str) -> Server:
        home = home or clone_home(tmp_path / f"server{len(servers)}")
        home.mkdir(parents=True, exist_ok=True)
        variables = {k: v for k, v in os.environ.items() if not k.startswith("TARIFF_")}
        variables.update(TARIFF_HOME=str(home), PYTHONUNBUFFERED="1", TARIFF_AUDIT_KEY=audit_key,
                         TARIFF_EMBED_CACHE_DIR=os.environ["TARIFF_EMBED_CACHE_DIR"])
        if database_url:
            variables["TARIFF_DATABASE_URL"] = database_url
        variables.update({f"TARIFF_{k.upper()}": str(v) for k, v in env.items()})
        server = Server(home=home, port=free_port(), env=variables, log=home / "server.log")
        settings = Settings(_env_file=None, home=home, database_url=database_url, audit_key=audit_key)
        db = Database.open(settings)
        try:
            add_keys(db, server.keys)
        finally:
            db.dispose()
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.kill(signal.SIGTERM)


# ---------------------------------------------------------------- a Chroma server


CHROMA = Path(sys.executable).with_name("chroma")  # the CLI of the chromadb package


@dataclass
class ChromaServer:
    """`chroma run` on 127.0.0.1 over a persistence folder; kill() and start() again keep the port and the folder."""

    path: Path
    port: int
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> ChromaServer:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"chroma run exited with {self.proc.returncode}:\n{self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"chroma run did not answer within {timeout} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)


def _chroma(tmp_path: Path, index: Path | None) -> ChromaServer:
    if not CHROMA.exists():
        pytest.skip(f"no chroma CLI at {CHROMA}")
    path = tmp_path / "chroma-server"
    if index is not None:
        shutil.copytree(index, path)
    return ChromaServer(path=path, port=free_port(), log=tmp_path / "chroma.log")


@pytest.fixture
def chroma_server(hs_runtime, tmp_path: Path) -> Iterator[ChromaServer]:
    """A running Chroma server holding a copy of the HS 2022 index."""
    server = _chroma(tmp_path, Path(hs_runtime.settings.home) / "chroma")
    yield server.start()
    server.kill()


@pytest.fixture
def empty_chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A running Chroma server with nothing in it."""
    server = _chroma(tmp_path, None)
    yield server.start()
    server.kill()
