"""Fixtures of the index tests: the real `tariff` console script run in a subprocess on a given home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TARIFF = Path(sys.executable).with_name("tariff")


def tariff_env(home: Path) -> dict[str, str]:
    return {**os.environ, "TARIFF_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture
def tariff() -> Callable[..., subprocess.CompletedProcess]:
    """tariff(home, "status", "--json") -> the finished process (stdout/stderr as text)."""

    def run(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(TARIFF), *args], capture_output=True, text=True, env=tariff_env(home),
                              timeout=timeout, cwd=home, check=False)

    return run


@pytest.fixture
def status(tariff) -> Callable[[Path], dict]:
    """status(home) -> `tariff status --json` as a dict."""

    def read(home: Path) -> dict:
        proc = tariff(home, "status", "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return read


@pytest.fixture
def start_tariff() -> Callable[..., subprocess.Popen]:
    """start_tariff(home, "ingest", "hs2022") -> the running process (stdout/stderr as binary pipes)."""

    def start(home: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(TARIFF), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=tariff_env(home), cwd=home)

    return start
