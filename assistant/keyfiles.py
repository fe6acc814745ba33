"""Secrets kept as files under TARIFF_HOME: created once with mode 0600, in a directory with mode 0700."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed; a directory this function creates is readable by its owner only."""
    path = Path(path)
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Make sure the file exists and is readable by its owner only (an existing 0644 file is tightened to 0600).

    An existing file is never opened here: closing a descriptor of an SQLite database releases every POSIX lock
    this process holds on it (another connection's), which can corrupt it. chmod needs no descriptor.
    """
    path = Path(path)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    return path


def read_or_create_secret(path: Path, *, nbytes: int = 32) -> str:
    """The secret stored in `path`, written first (random, 0600, never overwritten) when the file does not exist."""
    path = Path(path)
    if not path.exists():
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(nbytes) + "\n")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_text().strip()
