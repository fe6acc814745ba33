"""assistant/evaluation/runner.py: what an item may retrieve while it is scored (its own precedent never; a left-out
source's never), whatever engine classifies it.

The precedent store here is a stand-in that returns fixed hits: what is tested is which of them `retrieve_precedents`
lets through inside `run_system`, not retrieval itself (tests/index/test_index_precedents.py runs that on chromadb).
"""

from __future__ import annotations

from types import SimpleNamespace

from assistant.engines.precedents import retrieve_precedents
from assistant.evaluation.dataset import EvalItem
from assistant.evaluation.runner import run_system
from assistant.models import Classification, Passage, SourceKind


def precedent(dataset: str, item_id: str) -> SimpleNamespace:
    passage = Passage(id=f"{dataset}:{item_id}", kind=SourceKind.PRECEDENT, label=f"{dataset} {item_id}", text="goods",
                      edition="HS 2022", source=dataset, codes=("610910",), level=6,
                      meta={"dataset": dataset, "item_id": item_id})
    return SimpleNamespace(passage=passage, dense_score=0.9)


class Store:
    """Every query finds the same precedents: two of the dataset being scored, one of another source."""

    def __init__(self):
        self.hits = [precedent("atlas_dev", "a1"), precedent("atlas_dev", "a2"), precedent("hmrc_trader", "h1")]

    def dense(self, text, *, kinds, top):
        return self.hits[:top]


def test_an_item_never_retrieves_its_own_precedent_nor_a_left_out_source():
    runtime = SimpleNamespace(retriever=Store())
    items = [EvalItem(id="a1", description="cotton tee", gold_codes=("610910",))]
    checker = SimpleNamespace(outcome=lambda item, result, **kw: result)
    seen: list[list[str]] = []

    def classify(text: str) -> Classification:
        seen.append([f"{h.dataset}:{h.item_id}" for h in retrieve_precedents(runtime, text, top=5)])
        return Classification(description=text, suggestions=[], engine="stub", edition="HS 2022", corpus_snapshot="x")

    run_system("stub", classify, items, checker, progress=False)
    run_system("stub", classify, items, checker, progress=False, leave_out_sources=("atlas_dev",))
    assert seen == [["atlas_dev:a2", "hmrc_trader:h1"], ["hmrc_trader:h1"]]
    assert [f"{h.dataset}:{h.item_id}" for h in retrieve_precedents(runtime, "x")] == [
        "atlas_dev:a1", "atlas_dev:a2", "hmrc_trader:h1"]  # outside the run, nothing is left out
