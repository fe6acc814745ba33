"""The ranker's model card: training data, features, cross-validated figures, search grid, date, rebuild command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .adapter import EPOCHS as ADAPTER_EPOCHS
from .features import FEATURES
from .offline import SOFTMAX_K
from .ranker import LABEL_GAIN
from .training import FOLDS, SEED, TrainingRun


def search_table(results: list[dict]) -> list[str]:
    """The hyper-parameter search (eval/search_ranker.py, WORK/search-results.jsonl) as Markdown rows."""
    sources = sorted(s for s in results[0]["by_source"] if s != "all")
    lines = ["| configuration | trees | leaves | lr | min_data | label-0 kept | weights | label gain | trunc. | "
             "**macro hs6 top-1** | " + " | ".join(f"{s} hs6" for s in sources) + " | all hs4 top-1 | "
             "all hts10 recall@50 |", "|---" * (12 + len(sources)) + "|"]
    for r in sorted(results, key=lambda r: (r["config"], r["trees"])):
        by = r["by_source"]
        lines.append(f"| {r['config']} | {r['trees']} | {r['num_leaves']} | {r['learning_rate']} | "
                     f"{r['min_data_in_leaf']} | {r['keep']:.0%} | {r['weights']} | {r['label_gain']} | "
                     f"{r['truncation']} | **{100 * r['macro_hs6_top1']:.1f} %** | "
                     + " | ".join(f"{100 * by[s]['hs6_top1']:.1f} %" for s in sources)
                     + f" | {100 * by['all']['hs4_top1']:.1f} % | {100 * by['all']['hts10_recall50']:.1f} % |")
    return lines


def model_card(run: TrainingRun, *, command: str, out: Path, search: list[dict] | None = None) -> str:
    """The Markdown model card written beside the shipped model (with the hyper-parameter search when given)."""
    counts: dict[str, int] = {}
    for it in run.items:
        counts[it.dataset] = counts.get(it.dataset, 0) + 1
    cols = ("n", "hs4_top1", "hs6_top1", "hts10_top1", "hs6_top5", "hts10_recall50")

    def table(rows: dict[str, dict]) -> list[str]:
        lines = ["| source | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, m in rows.items():
            cells = [("–" if m.get(c) is None else (str(m[c]) if c == "n" else f"{100 * m[c]:.1f} %")) for c in cols]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return lines

    size = out.stat().st_size if out.exists() else 0
    lines = [
        f"# Offline ranker ({run.chosen}) — model card", "",
        f"Trained {dt.datetime.now(dt.UTC).date().isoformat()}; file `{out.name}` ({size / 1024:.0f} KB, text: JSON "
        "with the LightGBM model string or the logistic coefficients; no pickle).", "",
        "## Rebuild", "", "```", command, "```", "",
        "## Training data", "",
        *[f"- `{k}`: {v} items" for k, v in sorted(counts.items())],
        f"- {run.rows} candidate rows (every positive, {run.negative_keep:.0%} of the label-0 rows, fixed seed "
        f"{SEED}){'; every source weighs the same in training (per-request weights)' if run.weigh_sources else ''}.",
        "- Labels: 4 exact 10-digit line, 3 same 8-digit line, 2 same subheading, 1 same heading, 0 otherwise; "
        "HMRC (UK) codes count to 6 digits only.",
        "- Features are built from the corpus under TARIFF_HOME (HTS 2025 lines, HS 2022, notes, GRIs, the 113 "
        "ruling letters, the code prior, the ingested precedents), with each item's fold left out of precedent "
        "retrieval.", "",
        "## Model", "",
        f"LightGBM LambdaRank, {run.params['n_estimators']} trees of {run.params['num_leaves']} leaves "
        f"(learning rate {run.params['learning_rate']}, min_data_in_leaf {run.params['min_child_samples']}, "
        f"label gain {run.params.get('label_gain', LABEL_GAIN)}, truncation level "
        f"{run.params.get('lambdarank_truncation_level', 30)}, seed {SEED}, deterministic with {run.params.get('num_threads', 1)} thread(s)). "
        + ("Hyper-parameters selected by the grouped-CV search below (same folds), not by looking at one split. "
           if search else "These settings were fixed before training, not searched. ")
        + "Compared under the same CV with a logistic regression on standardised features; the simpler model "
        "would ship if it did as well.", "",
        *(["## Query adapter", "",
            "A linear map (384x384) on the MiniLM query vector (`engines/adapter.py`, stored in the "
            "ranker's file), started at the identity and fitted with an in-batch contrastive loss towards the right "
            "line's vector (a 10-digit gold code) or the mean vector of the gold subheading's lines (a 6-digit or UK "
            f"code), on {run.adapter_items} items of the same datasets (every item, not only the ranker's sample), "
            f"{ADAPTER_EPOCHS} epochs, seed {SEED}. Each fold model carries an adapter fitted without its fold's "
            "items, so the out-of-fold figures below include the adapter's; the shipped adapter is fitted on all "
            "items. The adapted search over the tariff lines gives the `adapt_*` features and `head_rank_adapt`, "
            "and its best headings join the candidates.", ""] if run.adapter_items else []),
        "## Features", "", ", ".join(f"`{f}`" for f in FEATURES), "",
        f"## Cross-validation ({FOLDS}-fold, grouped by item and identical description across datasets)", "",
        "Every figure is out of fold: each item scored by a model that never saw its fold, with its fold's "
        "precedents not retrievable. Primary gold code; hts10 figures only for US 10-digit golds (including codes "
        "retired since the ruling, which `tariff eval` leaves out of its recall denominator).", "",
    ]
    for kind, rows in run.cv.items():
        lines += [f"### {kind}{' (shipped)' if kind == run.chosen else ''}", "", *table(rows), ""]
    if run.answer_cv:
        lines += ["### What the answer lists first (shipped)", "",
                  "The same out-of-fold scores, in the order the engine lists its suggestions: subheadings by the sum "
                  f"of their lines' confidences (softmax over the best {SOFTMAX_K} lines at the fitted temperature), "
                  "each by its best line (`suggestions.subheading_first`). The figures above rank single lines.", "",
                  *table(run.answer_cv), ""]
    if run.loso:
        lines += ["## Leave one source out", "",
                  "Trained without the source; its items scored with the whole source removed from precedent "
                  "retrieval (a proxy for an unseen kind of input).", "", *table(run.loso), ""]
    if search:
        lines += ["## Hyper-parameter search (grouped CV)", "",
                  "`eval/search_ranker.py` on the cached feature rows with the fold assignment of this training "
                  "(5 folds, grouped): each configuration's fold models trained on the other folds' rows, every item "
                  "scored out of fold on all its candidates; tree counts read off one run (`num_iteration`). Selected "
                  "on the mean out-of-fold hs6 top-1 over the sources (equal weight per source); fixed seed 13, "
                  "deterministic. The search draws the label-0 rows it keeps per row (training draws them per item, same share); "
                  "it does not refit the logistic baseline; configurations of its grid not listed here were not run.",
                  "",
                  *search_table(search), ""]
    lines += [f"Confidence: softmax over the top {SOFTMAX_K} scores at temperature {run.temperature:.3f}, fitted on "
              "out-of-fold scores (negative log-likelihood of the exact line, US items).", ""]
    return "\n".join(lines)
