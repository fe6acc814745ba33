"""Crash safety: `tariff ingest hs2022` killed with SIGKILL mid-way, then re-run, ends exactly like an uninterrupted run."""

from __future__ import annotations

import re
import signal
import threading
import time

import pytest

from assistant.index.ingest import WRITE_BATCH

pytestmark = pytest.mark.slow


def progress(buffer: list[bytes]) -> int:
    """Passages the progress bar has reported as written (tqdm redraws with carriage returns)."""
    counts = re.findall(rb"(\d+)/\d+ \[", b"".join(buffer))
    return int(counts[-1]) if counts else 0


def test_sigkill_mid_ingest_then_rerun_gives_the_same_index(hs_runtime, tmp_path, tariff, start_tariff, status):
    home = tmp_path / "home"
    home.mkdir()
    proc = start_tariff(home, "ingest", "hs2022")
    buffer: list[bytes] = []
    reader = threading.Thread(target=lambda: [buffer.append(c) for c in iter(lambda: proc.stderr.read1(4096), b"")],
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    while progress(buffer) < 2 * WRITE_BATCH and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed: " + b"".join(buffer)[-300:].decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=10)
    proc.stdout.close()
    proc.stderr.close()  # an open pipe left to the garbage collector is a ResourceWarning, an error here
    assert proc.returncode == -signal.SIGKILL

    total = hs_runtime.status()["passages"]
    partial = status(home)
    assert 2 * WRITE_BATCH <= partial["passages"] < total  # whole batches survived, the rest did not
    assert partial["passages"] % WRITE_BATCH == 0

    rerun = tariff(home, "ingest", "hs2022", "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    added, unchanged = map(int, re.search(r"(\d+) added, (\d+) unchanged", rerun.stdout).groups())
    assert (added, unchanged) == (total - partial["passages"], partial["passages"])

    final = status(home)
    uninterrupted = hs_runtime.status()
    assert final["counts"] == uninterrupted["counts"]
    assert final["snapshot"] == uninterrupted["snapshot"]  # same passages, same content hashes
