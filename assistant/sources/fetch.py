"""Resolve a source given as a local path or an http(s) URL to a local file (downloading it into a cache)."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
from tqdm import tqdm

from ..errors import FetchError, InputError, SourceFormatError

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def is_url(src: str | Path) -> bool:
    return isinstance(src, str) and src.lower().startswith(("http://", "https://"))


def resolve(src: str | Path, *, cache_dir: Path | None = None, expect: str | None = None) -> Path:
    """Local file or folder for `src`; a URL is downloaded once into `cache_dir` (default: the temp folder).

    `expect` is the suffix the file should carry (".csv", ".pdf") when the URL does not show one.
    """
    if is_url(src):
        return _download(str(src), cache_dir=cache_dir, expect=expect)
    text = str(src)
    if text.lower().startswith("file://"):
        text = unquote(urlparse(text).path)
    path = Path(text).expanduser()
    if not path.exists():
        raise InputError(f"no such file: {path}")
    return path


def read_bytes(path: Path) -> bytes:
    """The content of a local source file; a gzip file (the compressed copies in corpus/) is decompressed."""
    data = Path(path).read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceFormatError(f"{path}: damaged gzip file ({exc})") from None


def plain_name(path: str | Path) -> str:
    """The file name without a trailing `.gz` ("hts_2025_rev24.csv.gz" -> "hts_2025_rev24.csv")."""
    name = Path(str(path)).name
    return name[:-3] if name.lower().endswith(".gz") else name


def _cache_name(url: str, expect: str | None) -> str:
    name = Path(unquote(urlparse(url).path)).name or "download"
    if expect and not name.lower().endswith(expect.lower()):
        name += expect
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    return f"{digest}-{name}"


def _download(url: str, *, cache_dir: Path | None, expect: str | None) -> Path:
    folder = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "tariff-downloads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / _cache_name(url, expect)
    if target.exists():
        return target
    # Write to a sibling temp file and rename: a half-downloaded file is never mistaken for the real one.
    fd, part = tempfile.mkstemp(dir=folder, prefix=target.name + ".", suffix=".part")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.stream("GET", url, timeout=TIMEOUT, follow_redirects=True) as resp,
        ):
            if resp.status_code >= 400:
                raise FetchError(
                    f"cannot download {url}: HTTP {resp.status_code} {resp.reason_phrase}".rstrip()
                )
            total = int(resp.headers.get("content-length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name[13:], disable=None) as bar:
                for chunk in resp.iter_bytes():
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(part, target)
    except httpx.HTTPError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FetchError(f"cannot download {url}: {reason} (offline?)") from exc
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return target
