"""Fixtures of the source-loader tests: the shared data folder and a writer of tiny chapter PDFs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pdf_support import make_pdf

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "corpus" / "samples"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $TARIFF_SHARED_DATA); skips the test when it is absent.

    Fallback until tests/conftest.py provides the project-wide fixture of the same name.
    """
    path = Path(os.environ.get("TARIFF_SHARED_DATA") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip("needs ../shared/data (see its README)")
    return path


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def write_pdf(tmp_path: Path) -> Callable[[str, list[list[str]]], Path]:
    """write_pdf("chapter_61.pdf", [[page 1 lines], [page 2 lines]]) -> path of a tiny real PDF."""

    def write(name: str, pages: list[list[str]]) -> Path:
        path = tmp_path / name
        path.write_bytes(make_pdf(pages))
        return path

    return write
