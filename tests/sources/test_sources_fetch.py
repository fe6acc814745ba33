"""fetch.resolve: local paths as they are, URLs downloaded (a real http.server on 127.0.0.1) into a cache."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.errors import FetchError, InputError
from assistant.sources.fetch import resolve
from assistant.sources.hts import load_hts

HTS_SAMPLE = "hts/hts_2025_rev24_excerpt.csv"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_server(samples: Path):
    """Serves corpus/samples on a free loopback port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(samples))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_local_path_is_returned_as_it_is(samples: Path):
    path = samples / HTS_SAMPLE
    assert resolve(path) == path
    assert resolve(str(path)) == path
    assert resolve(path.as_uri()) == path


def test_missing_local_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="no such file: .*nothing-here.csv"):
        resolve(tmp_path / "nothing-here.csv")


def test_url_is_downloaded_once_into_the_cache(http_server: str, samples: Path, tmp_path: Path):
    url = f"{http_server}/{HTS_SAMPLE}"
    cache = tmp_path / "cache"
    path = resolve(url, cache_dir=cache)
    assert path.parent == cache
    assert path.name.endswith("hts_2025_rev24_excerpt.csv")
    assert path.read_bytes() == (samples / HTS_SAMPLE).read_bytes()
    assert [p.name for p in cache.iterdir()] == [path.name]  # no .part file left behind
    assert resolve(url, cache_dir=cache) == path


def test_cached_download_is_reused_without_the_network(http_server: str, tmp_path: Path):
    url = f"{http_server}/{HTS_SAMPLE}"
    first = resolve(url, cache_dir=tmp_path)
    first.write_text("cached copy")
    assert resolve(url, cache_dir=tmp_path).read_text() == "cached copy"


def test_expected_suffix_names_a_download_without_one(http_server: str, tmp_path: Path):
    path = resolve(f"{http_server}/rulings/", cache_dir=tmp_path, expect=".html")
    assert path.suffix == ".html" and path.stat().st_size > 0


def test_loader_reads_a_url_and_cites_it(http_server: str, tmp_path: Path):
    url = f"{http_server}/{HTS_SAMPLE}"
    lines = load_hts(url, cache_dir=tmp_path)
    assert lines and {ln.source for ln in lines} == {url}


def test_unreachable_url_is_a_fetch_error(tmp_path: Path):
    url = "http://127.0.0.1:9/x.csv"
    with pytest.raises(FetchError) as info:
        resolve(url, cache_dir=tmp_path)
    message = str(info.value)
    assert message.startswith(f"cannot download {url}: ") and message.endswith("(offline?)")
    assert "\n" not in message
    assert info.value.status == 503
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_a_fetch_error(http_server: str, tmp_path: Path):
    with pytest.raises(FetchError, match=r"cannot download .*missing\.csv: HTTP 404"):
        resolve(f"{http_server}/missing.csv", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
