"""Precedents in the index: `tariff ingest precedents` is idempotent and replaces per source; retrieval, exclusion
(cross-validation) and votes; citations resolve through the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.engines.precedents import excluding, precedent_votes, retrieve_precedents
from assistant.models import SourceKind


@pytest.fixture(scope="module")
def samples() -> Path:
    return Path(__file__).resolve().parents[2] / "corpus" / "samples"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """HS 2022 plus the sample precedents, on a home of its own (precedents change answers)."""
    from assistant.config import Settings
    from assistant.runtime import Runtime

    return Runtime.open(Settings(home=tmp_path_factory.mktemp("precedents-home"), _env_file=None), auto_ingest=True)


def test_ingest_is_idempotent_and_replaces_per_source(runtime, samples, tmp_path):
    path = samples / "precedents" / "rulings_sample.jsonl"
    first = runtime.ingest_precedents(path, source="cbp_sample", progress=False)
    assert first.added == 3 and first.removed == 0  # N900104's subheading 0101.99 is in no schedule
    again = runtime.ingest_precedents(path, source="cbp_sample", progress=False)
    assert (again.added, again.unchanged, again.removed) == (0, 3, 0)
    fewer = tmp_path / "rulings_sample.jsonl"
    fewer.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    replaced = runtime.ingest_precedents(fewer, source="cbp_sample", progress=False)
    assert (replaced.added, replaced.unchanged, replaced.removed) == (0, 2, 1)
    levels = {p.meta["item_id"]: p.level for p in runtime.catalog.by_kind[SourceKind.PRECEDENT]}
    assert levels == {"N900101": 6, "N900102": 6}  # HS 2022 loaded: a US line counts as its subheading
    runtime.ingest_precedents(path, source="cbp_sample", progress=False)  # back to the full sample


def test_retrieve_exclude_and_vote(runtime, samples):
    runtime.ingest_precedents(samples / "precedents" / "search_references_sample.json", progress=False)
    hits = retrieve_precedents(runtime, "purebred Arabian stallion for breeding", top=3)
    assert hits[0].item_id == "N900101" and hits[0].dataset == "cbp_sample" and hits[0].similarity > 0.5
    assert runtime.catalog.passage(hits[0].passage.id) is not None
    votes = precedent_votes(hits, 4)
    assert max(votes, key=votes.get) == "0101"
    assert precedent_votes(hits, 10) == {}  # nothing here is trustworthy at 10 digits
    left = retrieve_precedents(runtime, "purebred Arabian stallion for breeding", top=3,
                               exclude={("cbp_sample", "N900101")})
    assert "N900101" not in {h.item_id for h in left} and len(left) == 3
    assert all(h.dataset != "cbp_sample" for h in retrieve_precedents(runtime, "stallion", exclude={"cbp_sample"}))
    with excluding(lambda p: p.meta.get("jurisdiction") == "uk"):
        assert all(h.dataset == "cbp_sample" for h in retrieve_precedents(runtime, "breeding horses", top=5))
    assert any(h.dataset == "hmrc_search_refs" for h in retrieve_precedents(runtime, "breeding horses", top=5))


def test_cli_ingest_and_search(runtime, samples, tariff):
    home = runtime.settings.home
    proc = tariff(home, "ingest", "precedents", str(samples / "precedents" / "entry_history_sample.csv"),
                  "--source", "acme_entries", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "precedents: 2 added, 0 unchanged, 0 removed (2 passages)"
    found = tariff(home, "search", "donkey for farm work", "--kind", "precedent", "--json")
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)[0]
    assert top["label"] == "acme_entries E-1001 (2026-01-20)" and top["kind"] == "precedent"
    bad = tariff(home, "ingest", "precedents", str(samples / "precedents" / "entry_history_sample.csv"),
                 "--code-column", "nope")
    assert bad.returncode != 0 and "no code column 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_a_decided_case_of_the_same_goods_comes_first(runtime):
    from assistant.engines import classify
    from assistant.engines.precedents import follow_decided_case
    from assistant.sources.precedents import CodeCheck, Precedent, precedent_passage

    goods = "Plastic garden chair, stackable, moulded polypropylene"
    before = classify(goods, runtime=runtime, top=5)
    code = next(c for c in ("950300", "847130", "030781") if c not in {s.code for s in before.suggestions})
    check = CodeCheck(runtime.catalog.nomenclature)
    other = precedent_passage(Precedent(goods, (code,), "cbp_sample", "N900777", "us"), check)
    runtime.index_passages([other], source_key="precedents:test-other")
    assert follow_decided_case(before, runtime, goods) == before  # only an officer's decision is followed
    case = precedent_passage(Precedent(goods, (code,), "decisions", "c0ffee", "us"), check)
    runtime.index_passages([case], source_key="precedents:decisions:c0ffee")
    try:
        after = follow_decided_case(before, runtime, goods)
        first = after.suggestions[0]
        assert first.code == code and first.citations[0].label == "Case c0ffee"
        assert first.rationale.startswith("Case c0ffee decided the same goods")
        assert [s.confidence for s in after.suggestions] == [s.confidence for s in before.suggestions]
        assert len(after.suggestions) == len(before.suggestions)
        assert follow_decided_case(before, runtime, "Frozen salmon fillets") == before  # other goods: untouched
    finally:
        runtime.index_passages([], source_key="precedents:decisions:c0ffee")
        runtime.index_passages([], source_key="precedents:test-other")


def test_precedent_files_in_a_row_are_checked_against_the_lines_without_reloading_the_catalog(
        runtime, samples, tmp_path, monkeypatch):
    import assistant.runtime as rt

    runtime.catalog  # noqa: B018 - current before the writes
    loads = []
    real = rt.load_catalog
    monkeypatch.setattr(rt, "load_catalog", lambda *a, **kw: loads.append(1) or real(*a, **kw))  # counts, then loads
    path = samples / "precedents" / "rulings_sample.jsonl"
    runtime.ingest_precedents(path, source="row_a", progress=False)
    runtime.ingest_precedents(path, source="row_b", progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"description": "unknown goods", "code": "999999", "id": "X1"}) + "\n", encoding="utf-8")
    with pytest.raises(rt.InputError, match="none of the codes"):  # still checked: against the kept lines
        runtime.ingest_precedents(bad, source="row_c", progress=False)
    assert loads == []
    assert {p.meta["dataset"] for p in runtime.catalog.by_kind[SourceKind.PRECEDENT]} >= {"row_a", "row_b"}
    assert loads == [1]  # the next reader sees the new precedents
    for source in ("row_a", "row_b"):
        runtime.index_passages([], source_key=f"precedents:{source}")
