"""Ranking features: one row per candidate tariff line, from the signals retrieved for the request (names listed once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..models import TariffLine
    from ..sources.prior import CodePrior

PRECEDENT_TOP_K = 10  # "sum of the top-k similarities" of a code's precedents
PRECEDENT_LEVELS = (10, 8, 6, 4)

# Grouped by the level they describe, so that a subheading's or heading's part is computed once per request.
LINE_FEATURES: tuple[str, ...] = (
    "query_words",
    "dense_line", "dexp_line", "lex_line", "dense_line_gap",  # the line itself: dense (raw, expanded query), BM25
    "ruling_line",  # best similarity of a ruling letter that assigned this very line
    *(f"prec_10_{s}" for s in ("max", "sum", "count", "rank")),  # precedents assigning this line
    "prior_10",  # code-frequency prior of CBP classifications
    "contradictions",  # stated facts the line's wording contradicts (knitted/woven, men/women, "not of cotton")
    "level", "indent", "is_other", "line_rank_in_heading",  # the line's shape and its rank among its heading's lines
)
EIGHT_FEATURES: tuple[str, ...] = tuple(f"prec_8_{s}" for s in ("max", "sum", "count", "rank"))
SUBHEADING_FEATURES: tuple[str, ...] = (
    "dense_6", "dexp_6", "lex_6", "hs_6",  # best line of the subheading; the HS 2022 wording of it
    *(f"prec_6_{s}" for s in ("max", "sum", "count", "rank")), "prec_6_share",
    "prior_6", "leaves_in_6",
)
HEADING_FEATURES: tuple[str, ...] = (
    "dense_4", "dexp_4", "lex_4", "dense_2", "lex_2", "hs_4", "dense_4_gap", "lex_4_gap",
    "ruling_4",
    *(f"prec_4_{s}" for s in ("max", "sum", "count", "rank")), "prec_4_share", "prec_best",
    "prior_4", "excluded", "redirected", "leaves_in_4",
    "head_rank_dense", "head_rank_lex", "head_rank_prec",  # the heading among the request's candidate headings
)
# The precedents found by words (BM25 over the precedent memory; similarity = score / request's best).
LEXICAL_PRECEDENT_FEATURES: tuple[str, ...] = tuple(
    f"plex_{n}_{s}" for n in (10, 6, 4) for s in ("max", "sum", "count", "rank"))
# The tariff lines found by the adapted query vector (engines/adapter.py): the line, its subheading's and heading's
# best line, and the gaps to the request's best line and heading.
ADAPTER_FEATURES: tuple[str, ...] = ("adapt_line", "adapt_6", "adapt_4", "adapt_line_gap", "adapt_4_gap",
                                     "head_rank_adapt")
# The words that set a line apart within its heading (its wording and its subheading's, less the heading's) that the
# query uses: how many, which share of them, and how far behind the heading's best line or subheading it is.
OWN_WORD_FEATURES: tuple[str, ...] = ("own_hit", "own_frac", "own_gap", "own6_hit", "own6_gap")
FEATURES: tuple[str, ...] = (*LINE_FEATURES, *EIGHT_FEATURES, *SUBHEADING_FEATURES, *HEADING_FEATURES,
                             *LEXICAL_PRECEDENT_FEATURES, *ADAPTER_FEATURES, *OWN_WORD_FEATURES)
INDEX = {name: i for i, name in enumerate(FEATURES)}
# The best line's evidence as the trust model reads it (engines/trust.py): how strongly precedents, the adapted
# search, the nomenclature text and the HS view back its subheading and heading - what a raw probability alone hides.
EVIDENCE: tuple[str, ...] = ("prec_6_max", "prec_6_share", "plex_6_max", "prec_4_share", "prec_best", "adapt_6",
                             "dense_6", "hs_6", "is_other", "head_rank_prec")
EVIDENCE_COLUMNS: tuple[int, ...] = tuple(INDEX[name] for name in EVIDENCE)


@dataclass(frozen=True)
class PrecedentVote:
    """One retrieved precedent as the ranker sees it: the code it assigned and how similar its goods are."""

    code: str  # digits; UK codes cut to 6 (their national digits mean nothing here)
    similarity: float
    dataset: str = ""
    item_id: str = ""


@dataclass
class Signals:
    """What retrieval found for one request, as best score per code prefix (what `feature_matrix` reads)."""

    query_words: int
    dense: dict[str, float]  # prefix (2/4/6 digits) or line code -> best cosine, raw query
    dense_exp: dict[str, float]  # same, expanded query
    lexical: dict[str, float]  # same, BM25 / request's best BM25
    hs: dict[str, float]  # HS 2022 subheading / heading -> cosine
    ruling: dict[str, float]  # heading or line code -> best similarity of a ruling letter assigning it
    precedents: list[PrecedentVote]  # best first
    prior: CodePrior | None = None
    excluded: dict[str, str] = field(default_factory=dict)  # chapter excluded by a matching note -> note label
    redirected: dict[str, str] = field(default_factory=dict)  # heading such a note sends the goods to -> label
    headings: list[str] = field(default_factory=list)  # candidate headings, in the order they were gathered
    lex_precedents: list[PrecedentVote] = field(default_factory=list)  # found by BM25, best first
    adapted: dict[str, float] = field(default_factory=dict)  # like `dense`, for the adapted query vector

    @cached_property
    def precedent_stats(self) -> dict[str, tuple[float, float, int, int]]:
        """prefix -> (max similarity, sum of the top-k similarities, count, 1-based rank of its first precedent)."""
        return _stats(self.precedents)

    @cached_property
    def lex_precedent_stats(self) -> dict[str, tuple[float, float, int, int]]:
        """The same over the precedents found by words."""
        return _stats(self.lex_precedents)

    @cached_property
    def totals(self) -> dict[str, float]:
        """The request's best values (gaps) and the total precedent weight at 6 and 4 digits (shares)."""
        out = {"dense_4": max((v for k, v in self.dense.items() if len(k) == 4), default=0.0),
               "dense_line": max((v for k, v in self.dense.items() if len(k) >= 8), default=0.0),
               "lex_4": max((v for k, v in self.lexical.items() if len(k) == 4), default=0.0),
               "adapt_4": max((v for k, v in self.adapted.items() if len(k) == 4), default=0.0),
               "adapt_line": max((v for k, v in self.adapted.items() if len(k) >= 8), default=0.0)}
        top = self.precedents[:PRECEDENT_TOP_K]
        out["prec_6"] = sum(v.similarity for v in top if len(v.code) >= 6)
        out["prec_4"] = sum(v.similarity for v in top if len(v.code) >= 4)
        return out

    @cached_property
    def heading_ranks(self) -> dict[str, tuple[int, int, int, int]]:
        """heading -> its rank among the candidate headings by dense, lexical, precedent and adapted evidence."""
        def ranks(score) -> dict[str, int]:
            order = sorted(self.headings, key=lambda h: (-score(h), h))
            return {h: i for i, h in enumerate(order, start=1)}

        stats = self.precedent_stats
        d = ranks(lambda h: self.dense.get(h, 0.0))
        lx = ranks(lambda h: self.lexical.get(h, 0.0))
        p = ranks(lambda h: stats.get(h, (0.0, 0.0, 0, 0))[1])
        a = ranks(lambda h: self.adapted.get(h, 0.0))
        return {h: (d[h], lx[h], p[h], a[h]) for h in self.headings}


def _stats(votes: list[PrecedentVote]) -> dict[str, tuple[float, float, int, int]]:
    sims: dict[str, list[float]] = {}
    first: dict[str, int] = {}
    for rank, vote in enumerate(votes, start=1):
        for n in PRECEDENT_LEVELS:
            if len(vote.code) < n:
                continue
            key = vote.code[:n]
            sims.setdefault(key, []).append(vote.similarity)
            first.setdefault(key, rank)
    return {k: (v[0], sum(v[:PRECEDENT_TOP_K]), len(v), first[k]) for k, v in sims.items()}


def feature_matrix(lines: Sequence[TariffLine], signals: Signals, *, leaves_in: dict[str, int],
                   line_ranks: Sequence[int], contradictions: Sequence[int], forms: np.ndarray,
                   own_words: tuple[Sequence[int], Sequence[int], Sequence[int]] | None = None) -> np.ndarray:
    """The feature rows of the candidate lines (each a candidate once), in the order of FEATURES.

    Built column by column: a signal holds a few hundred codes and the lines are ~1,000, so each signal's values are
    put on the lines they name; the part of a row that depends only on the heading, subheading or 8-digit prefix is
    computed once per prefix and copied to its lines. `forms`: each line's level, indent and "Other" flag (one row per
    line, from a table built once per catalog)."""
    n = len(lines)
    X = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if not n:
        return X
    s, t, prior = signals, signals.totals, signals.prior
    codes = [ln.code for ln in lines]
    row_of = {c: i for i, c in enumerate(codes)}
    prefix_rows: dict[int, tuple[list[str], np.ndarray]] = {}

    def per_prefix(width: int, part) -> np.ndarray:
        """`part(prefix)` (a list of values) for each line's first `width` digits."""
        if width not in prefix_rows:
            table: dict[str, int] = {}
            rows = np.fromiter((table.setdefault(c[:width], len(table)) for c in codes), dtype=np.intp, count=n)
            prefix_rows[width] = (list(table), rows)
        keys, rows = prefix_rows[width]
        return np.asarray([part(k) for k in keys], dtype=np.float64).reshape(len(keys), -1)[rows]

    def per_line(found: dict, default: float | tuple = 0.0) -> np.ndarray:
        """A signal's value at each line's own code, `default` where it names none."""
        out = np.empty((n, len(default)) if isinstance(default, tuple) else n)
        out[...] = default
        for key, value in found.items():
            i = row_of.get(key)
            if i is not None:
                out[i] = value
        return out

    def put(first: str, values) -> None:
        width = np.shape(values)[1] if np.ndim(values) == 2 else 1
        at = INDEX[first]
        X[:, at:at + width] = values if width > 1 else np.reshape(values, (-1, 1))

    def each(values) -> np.ndarray:
        return np.fromiter(values, dtype=np.float64, count=n)

    unranked = (len(s.headings) + 1,) * 4
    dense_line, adapt_line = per_line(s.dense), per_line(s.adapted)
    adapt_4 = per_prefix(4, lambda k: [s.adapted.get(k, 0.0)])
    put("query_words", np.full(n, float(s.query_words)))
    put("dense_line", dense_line)
    put("dexp_line", per_line(s.dense_exp))
    put("lex_line", per_line(s.lexical))
    put("dense_line_gap", t["dense_line"] - dense_line)
    put("ruling_line", per_line(s.ruling))
    put("prec_10_max", per_line(s.precedent_stats, (0.0, 0.0, 0, len(s.precedents) + 1)))
    put("prior_10", each(prior.log_prob(c) for c in codes) if prior else np.zeros(n))
    put("contradictions", np.asarray(contradictions, dtype=np.float64))
    put("level", forms[:, 0])
    put("indent", forms[:, 1])
    put("is_other", forms[:, 2])
    put("line_rank_in_heading", np.asarray(line_ranks, dtype=np.float64))
    put(EIGHT_FEATURES[0], per_prefix(8, lambda k: _precedent_part(k, s) if len(k) >= 8 else [0.0] * 4))
    put(SUBHEADING_FEATURES[0], per_prefix(6, lambda k: _subheading_part(k, s, leaves_in)))
    put(HEADING_FEATURES[0], per_prefix(4, lambda k: _heading_part(k, s, leaves_in)))
    put("plex_10_max", per_line(s.lex_precedent_stats, (0.0, 0.0, 0, len(s.lex_precedents) + 1)))
    put("plex_6_max", per_prefix(6, lambda k: _lex_part(k, s)))
    put("plex_4_max", per_prefix(4, lambda k: _lex_part(k, s)))
    put("adapt_line", adapt_line)
    put("adapt_6", per_prefix(6, lambda k: [s.adapted.get(k, 0.0)]))
    put("adapt_4", adapt_4)
    put("adapt_line_gap", t["adapt_line"] - adapt_line)
    put("adapt_4_gap", t["adapt_4"] - adapt_4)
    put("head_rank_adapt", per_prefix(4, lambda k: [float(s.heading_ranks.get(k, unranked)[3])]))
    if own_words is not None:
        hit, size, hit6 = (np.asarray(v, dtype=np.float64) for v in own_words)
        _, heads = prefix_rows[4]  # each line's heading, built with adapt_4 above
        best = np.zeros(heads.max() + 1)
        np.maximum.at(best, heads, hit)
        best6 = np.zeros(heads.max() + 1)
        np.maximum.at(best6, heads, hit6)
        put("own_hit", hit)
        put("own_frac", hit / np.maximum(size, 1.0))
        put("own_gap", best[heads] - hit)
        put("own6_hit", hit6)
        put("own6_gap", best6[heads] - hit6)
    return X


def _lex_part(prefix: str, s: Signals) -> list[float]:
    mx, total, count, rank = s.lex_precedent_stats.get(prefix, (0.0, 0.0, 0, len(s.lex_precedents) + 1))
    return [mx, total, float(count), float(rank)]


def _precedent_part(prefix: str, s: Signals) -> list[float]:
    mx, total, count, rank = s.precedent_stats.get(prefix, (0.0, 0.0, 0, len(s.precedents) + 1))
    return [mx, total, float(count), float(rank)]


def _subheading_part(h6: str, s: Signals, leaves_in: dict[str, int]) -> list[float]:
    total = s.totals["prec_6"]
    prec = _precedent_part(h6, s)
    return [
        s.dense.get(h6, 0.0), s.dense_exp.get(h6, 0.0), s.lexical.get(h6, 0.0), s.hs.get(h6, 0.0),
        *prec, prec[1] / total if total else 0.0,
        s.prior.log_prob(h6) if s.prior else 0.0, float(leaves_in.get(h6, 1)),
    ]


def _heading_part(h4: str, s: Signals, leaves_in: dict[str, int]) -> list[float]:
    t = s.totals
    prec = _precedent_part(h4, s)
    dense_4, lex_4 = s.dense.get(h4, 0.0), s.lexical.get(h4, 0.0)
    ranks = s.heading_ranks.get(h4, (len(s.headings) + 1,) * 4)
    return [
        dense_4, s.dense_exp.get(h4, 0.0), lex_4, s.dense.get(h4[:2], 0.0), s.lexical.get(h4[:2], 0.0),
        s.hs.get(h4, 0.0), t["dense_4"] - dense_4, t["lex_4"] - lex_4,
        s.ruling.get(h4, 0.0),
        *prec, prec[1] / t["prec_4"] if t["prec_4"] else 0.0, s.precedents[0].similarity if s.precedents else 0.0,
        s.prior.log_prob(h4) if s.prior else 0.0, float(h4[:2] in s.excluded), float(h4 in s.redirected),
        float(leaves_in.get(h4, 1)),
        float(ranks[0]), float(ranks[1]), float(ranks[2]),
    ]
