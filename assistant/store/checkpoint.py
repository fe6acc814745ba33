"""Signed checkpoints of the audit chain's head, kept outside the database (an append-only file of the operator's).

A checkpoint is one JSON line {"seq", "hash", "time", "mac"} with mac = HMAC-SHA256 under the audit key. The
chain must still hold event `seq` with that hash: deleting the newest events and rolling back `audit_head`, or
rewriting the chain from scratch, cannot match a checkpoint taken before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .audit import canonical, now_ts

if TYPE_CHECKING:
    from .audit import Verification

_DOMAIN = b"tariff-audit-checkpoint\n"  # a checkpoint's MAC can never be mistaken for an event's


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    time: str
    mac: str
    line: int = 0

    def record(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "time": self.time, "mac": self.mac}


def _mac(key: bytes, seq: int, hash_: str, time: str) -> str:
    body = canonical({"seq": seq, "hash": hash_, "time": time}).encode("utf-8")
    return hmac.new(key, _DOMAIN + body, hashlib.sha256).hexdigest()


def sign(key: bytes, seq: int, hash_: str) -> Checkpoint:
    """A checkpoint of the chain head (seq, hash), timed now."""
    time = now_ts()
    return Checkpoint(seq, hash_, time, _mac(key, seq, hash_, time))


def append_to(path: Path, cp: Checkpoint) -> None:
    """Append one line to `path` (created 0600); an existing file is only ever appended to."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(cp.record()) + "\n")


def read(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file; InputError naming the first line that is not one."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read checkpoint file {str(path)[:200]}: {exc.strerror}") from None
    out: list[Checkpoint] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(Checkpoint(int(d["seq"]), str(d["hash"]), str(d["time"]), str(d["mac"]), n))
        except (ValueError, KeyError, TypeError):
            raise InputError(f"checkpoint file {str(path)[:200]}, line {n}: not a checkpoint") from None
    if not out:
        raise InputError(f"checkpoint file {str(path)[:200]} holds no checkpoint")
    return out


def compare(marks: list[Checkpoint], result: Verification, seen: dict[int, str], key: bytes | None) -> list[str]:
    """Problems between the chain and its checkpoints: a forged checkpoint, lost events, a rewritten event."""
    problems: list[str] = []
    for cp in marks:
        where = f"checkpoint of {cp.time} (line {cp.line})"
        if not key or not hmac.compare_digest(_mac(key, cp.seq, cp.hash, cp.time), cp.mac):
            problems.append(f"{where} is not signed by this audit key")
        elif result.broken_at is not None and cp.seq >= result.broken_at:
            continue  # the walk stopped before it; the broken link is already reported
        elif cp.seq > result.events:
            problems.append(f"rolled back: the {where} records {cp.seq} events, the chain holds {result.events}")
        elif cp.seq and seen.get(cp.seq) != cp.hash:
            problems.append(f"rewritten: event {cp.seq} differs from the {where}")
    return problems
