"""eval/oracle_llm.py: the oracle model that measures the LLM engine's ceiling, and `tariff eval` scoring it honestly.

The oracle is a measuring instrument, not a test fake: it answers from the gold codes of the dataset. The runs use the
real `tariff` console script on the `hs_runtime` home against the oracle on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_eval_cli import tariff, write_dataset

from assistant.evaluation.dataset import EvalItem, load_dataset

REPO = Path(__file__).resolve().parents[2]


def _load_oracle():
    spec = importlib.util.spec_from_file_location("oracle_llm", REPO / "eval" / "oracle_llm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oracle_llm = _load_oracle()
ITEM = EvalItem(id="x", description="men's T-shirt of cotton", gold_codes=("6109100012",))


def request(step: str, rows: list[tuple[str, str]], description: str = ITEM.description, *,
            may_decline: bool = False) -> dict:
    table = "\n".join(f"  {cid} | {code} | text" for cid, code in rows)
    user = f"<<<DESCRIPTION\n{description}\nDESCRIPTION>>>\n\nOptions:\n{table}\nN1 | Chapter 61, Note 1: text"
    schema = {"properties": {"headings": {}, **({"none_fits": {}} if may_decline else {})}}
    return {"messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": user}],
            "response_format": {"type": "json_schema", "json_schema": {"name": step, "schema": schema}}}


def test_oracle_picks_the_gold_option_at_every_step():
    oracle = oracle_llm.Oracle([ITEM])
    heading = oracle.answer(request("heading", [("H1", "6110"), ("H2", "6109")]))
    assert heading["headings"][0]["code"] == "6109" and heading["headings"][0]["cited_ids"] == ["H2"]
    line = oracle.answer(request("line", [("L1", "6109.10.00.04"), ("L2", "6109.10.00.12")]))
    assert line["suggestions"][0]["code"] == "6109100012" and line["excluded_by"] is None
    narrowed = oracle.answer(request("subheading", [("S1", "6109.90"), ("S2", "6109.10.00")]))
    assert narrowed["suggestions"][0]["code"] == "61091000"  # the longest offered ancestor of the gold
    retired = oracle.answer(request("line", [("L1", "6109.90.10.00"), ("L2", "6109.10.00.99")]))
    assert retired["suggestions"][0]["code"] == "6109100099"  # gold line gone: the closest one left (8 digits)
    other = oracle.answer(request("classification", [("C1", "6110.20.20.10"), ("C2", "6109.90.10.00")]))
    assert other["suggestions"][0]["code"] == "6109901000"  # gold not among the lines: the one in its heading
    absent = oracle.answer(request("classification", [("C1", "6110.20.20.10"), ("C2", "6105.10.00.10")]))
    assert absent["suggestions"][0]["code"] == "6110202010"  # not offered: the first option, as a model would
    stranger = oracle.answer(request("heading", [("H1", "6110"), ("H2", "6109")], description="something else"))
    assert stranger["headings"][0]["code"] == "6110"


def test_oracle_says_no_heading_fits_only_when_the_gold_is_not_offered_and_it_may():
    oracle = oracle_llm.Oracle([ITEM])
    absent = oracle.answer(request("heading", [("H1", "6110"), ("H2", "6105")], may_decline=True))
    assert absent["headings"] == [] and absent["none_fits"] is True
    offered = oracle.answer(request("heading", [("H1", "6110"), ("H2", "6109")], may_decline=True))
    assert offered["headings"][0]["code"] == "6109" and "none_fits" not in offered
    cannot = oracle.answer(request("heading", [("H1", "6110"), ("H2", "6105")]))
    assert cannot["headings"][0]["code"] == "6110"  # no way to decline: the first option, as a model would
    chapter = oracle.answer(request("chapter", [("K1", "52"), ("K2", "61"), ("K3", "62")]))
    assert chapter["chapters"][0]["code"] == "61" and chapter["chapters"][0]["cited_ids"] == ["K2"]
    stranger = oracle.answer(request("heading", [("H1", "6110")], description="something else", may_decline=True))
    assert stranger["headings"][0]["code"] == "6110"


def test_oracle_accuracy_is_the_share_of_right_answers_and_is_seeded():
    items = [EvalItem(id=f"i{n}", description=f"item {n}", gold_codes=("6109100012",)) for n in range(2000)]
    rows = [("H1", "6110"), ("H2", "6109"), ("H3", "6105")]
    for accuracy, low, high in ((1.0, 1.0, 1.0), (0.8, 0.77, 0.83), (0.0, 0.0, 0.0)):
        oracle = oracle_llm.Oracle(items, accuracy=accuracy, seed=3)
        picks = [oracle.answer(request("heading", rows, i.description))["headings"][0]["code"] for i in items]
        share = sum(p == "6109" for p in picks) / len(picks)
        assert low <= share <= high, (accuracy, share)
        again = oracle_llm.Oracle(list(reversed(items)), accuracy=accuracy, seed=3)
        assert picks == [again.answer(request("heading", rows, i.description))["headings"][0]["code"] for i in items]


def test_oracle_counts_tokens_conservatively():
    assert oracle_llm.count_tokens("a" * 400) == 100  # prose: characters / 4
    assert oracle_llm.count_tokens("6109.10.00.12") == 7  # codes: every digit group and dot


def run_oracle(dataset: Path, home: Path, out: Path, *, accuracy: float, strategy: str = "walk",
               log: list | None = None) -> dict:
    oracle = oracle_llm.Oracle(load_dataset(dataset), accuracy=accuracy, seed=0)
    oracle.log = log if log is not None else oracle.log
    with oracle_llm.OracleServer(oracle) as server:
        proc = tariff(["eval", str(dataset), "--engine", "llm", "--json", "--out", str(out)], home,
                      TARIFF_LLM_BASE_URL=server.base_url, TARIFF_LLM_MODEL="oracle", TARIFF_LLM_API_KEY="x",
                      TARIFF_LLM_STRATEGY=strategy, TARIFF_LLM_CACHE="false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.shared_data
def test_oracle_ceiling_falls_as_expected_with_a_less_accurate_model(tmp_path, hs_runtime, shared_data):
    """On a slice of ATLAS dev (HS 2022 index): the ceiling, a model right 80 % of the time, and one never right."""
    lines = (shared_data / "atlas_cross_eval" / "atlas_dev.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    dataset = write_dataset(tmp_path / "slice.jsonl", [json.loads(line) for line in lines])
    home = hs_runtime.settings.home
    log: list = []
    ceiling = run_oracle(dataset, home, tmp_path / "p1", accuracy=1.0, log=log)
    some = run_oracle(dataset, home, tmp_path / "p08", accuracy=0.8)
    never = run_oracle(dataset, home, tmp_path / "p0", accuracy=0.0)

    assert ceiling["oracle"] == "tariff-oracle accuracy=1 seed=0" and some["oracle"].endswith("accuracy=0.8 seed=0")
    assert "**Oracle run**" in (tmp_path / "p1" / "report.md").read_text()
    per = ceiling["usage_per_item"]
    assert per["strategy"] == "walk" and per["calls_median"] == 2 and per["prompt_tokens_median"] > 500
    assert ceiling["degraded_rate"] == 0 and ceiling["codes_valid"] == 1 and ceiling["citation_valid"] == 1
    # The walk makes two decisions (heading, line): right at both with probability 0.8 ** 2 = 0.64.
    assert 0.45 * ceiling["hs6_top1"] <= some["hs6_top1"] <= 0.9 * ceiling["hs6_top1"]
    assert ceiling["hs4_top1"] >= some["hs4_top1"] >= 0.6 * ceiling["hs4_top1"]
    assert never["hs4_top1"] == 0.0  # a wrong heading at every step: nothing below it can be right
    # The ceiling at 4 digits is exactly the share of items whose gold heading was offered: the recall of step 1.
    predictions = [json.loads(x) for x in (tmp_path / "p1" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["suggestions"] and not p["degraded"] for p in predictions)
    offered = {ident: codes for ident, step, codes, _ in log if step == "heading"}
    assert len(offered) == len(predictions)
    for p in predictions:
        assert p["correct"]["hs4_top1"] == (p["gold_codes"][0][:4] in offered[p["id"]]), p["id"]
