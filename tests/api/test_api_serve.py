"""`tariff serve` as a user runs it: a real uvicorn process on an empty TARIFF_HOME."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.cli.serve_protocol import HeadDeadlineProtocol

pytestmark = pytest.mark.slow
TARIFF = Path(sys.executable).with_name("tariff")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(home: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "TARIFF_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("TARIFF_DATABASE_URL", None)
    return subprocess.Popen([str(TARIFF), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def read_until(proc: subprocess.Popen, pattern: str, timeout: float = 240.0) -> str:
    """Output up to the first line matching `pattern` (the server keeps running)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"tariff serve exited ({proc.poll()}):\n{''.join(seen)}")
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{''.join(seen)}")


def wait_ready(url: str, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(url + "healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer")


def stop(proc: subprocess.Popen) -> str:
    """Stop the server; what it printed since the last read (its output pipe is closed)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with proc.stdout:
        return proc.stdout.read()


def test_first_start_builds_the_index_and_prints_an_admin_key(tmp_path):
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start(home, port)
    try:
        out = read_until(proc, r"sign in with this admin key")
        assert "indexing HS 2022" in out  # the first start says what it is doing
        key = re.search(r"Open (\S+) and sign in with this admin key: (tk_\S+)", out)
        assert key and key.group(1) == url
        out += read_until(proc, r"tariff keys create --role officer")
        assert "tariff keys create --role broker --name NAME --org ORG" in out
        assert wait_ready(url).json() == {"status": "ok"}
        headers = {"Authorization": f"Bearer {key.group(2)}"}
        assert httpx.get(url + "readyz", timeout=30).json()["status"] == "ready"
        keys = httpx.get(url + "v1/keys", headers=headers, timeout=10)
        assert keys.status_code == 200 and [k["role"] for k in keys.json()] == ["admin"]
        case = httpx.post(url + "v1/classifications", headers=headers, timeout=60,
                          json={"description": "Men's cotton T-shirt, knitted"})
        assert case.status_code == 201 and case.json()["status"] == "pending_review"
        assert httpx.get(url + "v1/search?q=secret%20cargo", headers=headers, timeout=30).status_code == 200
    finally:
        log = stop(proc)
    assert "secret cargo" not in log and "secret%20cargo" not in log  # query strings stay out of the access log
    assert key.group(2) not in log
    # a second start reuses the index and the keys: no new admin key
    proc = start(home, port)
    try:
        out = read_until(proc, r"Serving on")
        assert "admin key" not in out and "indexing" not in out
        wait_ready(url)
    finally:
        stop(proc)
        proc.stdout.close()


def test_serve_sets_timeouts_for_slow_clients():
    """Idle connections close, oversized request heads are refused, and connections are capped (issue 17)."""
    import uvicorn

    from assistant.cli import serve

    config = serve.server_config(object(), host="127.0.0.1", port=8000)
    assert isinstance(config, uvicorn.Config)
    assert config.timeout_keep_alive == serve.KEEP_ALIVE_SECONDS <= 10
    assert issubclass(config.http, HeadDeadlineProtocol) and config.http.head_seconds == serve.HEAD_SECONDS <= 30
    assert config.h11_max_incomplete_event_size == serve.MAX_HEAD_BYTES <= 64 * 1024
    assert config.limit_concurrency == serve.MAX_CONNECTIONS


def test_a_silent_or_slow_client_is_disconnected(monkeypatch):
    """uvicorn times out idle keep-alive only after a response; a head must also arrive in time (issue 17)."""
    import threading

    import uvicorn

    from assistant.cli import serve

    async def hello(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

    monkeypatch.setattr(serve, "HEAD_SECONDS", 1.0)
    port = free_port()
    config = serve.server_config(hello, host="127.0.0.1", port=port)
    config.lifespan, config.log_level = "off", "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)

        def closed_after(first: bytes, *, then: bytes = b"") -> tuple[float, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                t0 = time.monotonic()
                c.sendall(first)
                got = b""
                while chunk := c.recv(4096):
                    got += chunk
                    if then and b"\r\n\r\nok" in got:
                        c.sendall(then)
                        then = b""
                return time.monotonic() - t0, got

        silent, nothing = closed_after(b"")
        assert 0.9 <= silent < 4 and nothing == b""
        partial, nothing = closed_after(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        assert 0.9 <= partial < 4 and nothing == b""
        # A complete request is answered; the next head on the same connection has the same deadline.
        kept, answered = closed_after(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", then=b"GET / HTTP/1.1\r\n")
        assert answered.startswith(b"HTTP/1.1 200") and answered.count(b"HTTP/1.1 200") == 1 and kept < 4
    finally:
        server.should_exit = True
        thread.join(timeout=10)
