"""Signed checkpoints of the audit chain's head, kept outside the database (an append-only file or an HTTP
receiver of the operator's: store/checkpoint_url.py).

A checkpoint is one JSON object {"seq", "hash", "time", "mac"} with mac = HMAC-SHA256 under the audit key. The
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
    where: str = ""  # "line 3" of a file, "item 2" of a JSON list: named in every problem found

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
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(cp.record()) + "\n")
    except OSError as exc:
        raise InputError(f"cannot append to checkpoint file {str(path)[:200]}: {exc.strerror}") from None


def read(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file; InputError naming the first line that is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"cannot read checkpoint file {str(path)[:200]}: {reason}") from None
    return parse(text, origin=f"checkpoint file {str(path)[:200]}")


def parse(text: str, *, origin: str) -> list[Checkpoint]:
    """Checkpoints from JSON Lines (the file's form), a JSON list, or one JSON object; InputError names `origin`."""
    body = text.strip()
    whole = None
    if body[:1] == "[" or (body[:1] == "{" and "\n" in body):  # a list, or one object over several lines
        try:
            whole = json.loads(body)
        except ValueError:
            if body[:1] == "[":
                raise InputError(f"{origin}: not a JSON list of checkpoints") from None
    if isinstance(whole, list):
        records = [(f"item {n}", d) for n, d in enumerate(whole, 1)]
    elif isinstance(whole, dict):
        records = [("item 1", whole)]
    else:  # JSON Lines, one checkpoint a line
        records = [(f"line {n}", _json(line)) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    out = [_checkpoint(d, where, origin) for where, d in records]
    if not out:
        raise InputError(f"{origin} holds no checkpoint")
    return out


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None  # reported as "not a checkpoint" with its line number


def _checkpoint(d: Any, where: str, origin: str) -> Checkpoint:
    try:
        return Checkpoint(int(d["seq"]), str(d["hash"]), str(d["time"]), str(d["mac"]), where)
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{origin}, {where}: not a checkpoint") from None


def compare(marks: list[Checkpoint], result: Verification, seen: dict[int, str], key: bytes | None) -> list[str]:
    """Problems between the chain and its checkpoints: a forged checkpoint, lost events, a rewritten event."""
    problems: list[str] = []
    for cp in marks:
        where = f"checkpoint of {cp.time} ({cp.where})"
        if not key or not hmac.compare_digest(_mac(key, cp.seq, cp.hash, cp.time), cp.mac):
            problems.append(f"{where} is not signed by this audit key")
        elif result.broken_at is not None and cp.seq >= result.broken_at:
            continue  # the walk stopped before it; the broken link is already reported
        elif cp.seq > result.events:
            problems.append(f"rolled back: the {where} records {cp.seq} events, the chain holds {result.events}")
        elif cp.seq and seen.get(cp.seq) != cp.hash:
            problems.append(f"rewritten: event {cp.seq} differs from the {where}")
    return problems
