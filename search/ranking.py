"""The arithmetic of ranking: BM25 over pages and over documents, how much of a question a text
holds, and the fusion of the evidence. Pure functions of numbers; the search service feeds them.

Why these, measured with `bench/eval_retrieval` on two question sets in different domains (SEC
filings and product manuals; README, *Retrieval quality*):

- **BM25 over pages** (Robertson/Lucene form, k1 = 1.2, b = 0.75, statistics over the pages the
  user may search) is the lexical evidence: a page holds the several facts a question combines,
  where a 256-token chunk often holds one. It is the textbook baseline, with no fitted part.
- **BM25 over documents, counting pages**: a term's frequency in a document is the number of its
  pages that contain it (its title counting as one more page), the document's length its number
  of pages plus one. A filing names its company
  on the cover and its figures in the tables; a contract names its parties on page one and its
  clauses later: this is the evidence that ties a page to the document the question is about.
- **Fusion by standardised scores**: each kind of evidence is turned into z-scores over the
  candidate pages (how far above the candidates' mean, in standard deviations) and the z-scores
  are added with equal weights. A leg whose best page stands out counts for more on that query
  than a leg whose candidates all look alike — so the fusion follows whichever leg is sure,
  which reciprocal-rank fusion cannot (it discards the scores) and fixed weights cannot (the
  legs' strength changes from one collection to the next). Nothing is fitted.
- **Support** (what answers rest on): the cosine similarity of the best passage plus the
  IDF-weighted share of the question's terms that the page contains. Both are in [0, 1]; they
  fail in different ways (a paraphrase has low word overlap, a page of the same vocabulary on
  another subject has low similarity), so an answer needs both kinds of evidence together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

K1 = 1.2
B = 0.75


def idf(total: int, containing: int) -> float:
    """Lucene's BM25 IDF: never negative, largest for a term no unit contains."""
    return math.log(1 + (total - containing + 0.5) / (containing + 0.5))


def bm25(
    counts: Sequence[Mapping[int, int]],
    lengths: Mapping[int, int],
    total: int,
    average_length: float,
    unit_ids: Iterable[int] | None = None,
) -> dict[int, float]:
    """BM25 of every unit that contains at least one term (or of `unit_ids` only, 0 when they
    contain none): `counts[t][unit]` is term t's frequency in the unit, `lengths[unit]` its length,
    `total` the number of units searched and `average_length` their mean length."""
    wanted = None if unit_ids is None else set(unit_ids)
    scores: dict[int, float] = {} if wanted is None else dict.fromkeys(wanted, 0.0)
    average = average_length or 1.0
    for term_counts in counts:
        weight = idf(total, len(term_counts))
        for unit, frequency in term_counts.items():
            if wanted is not None and unit not in wanted:
                continue
            norm = K1 * (1 - B + B * lengths.get(unit, 0) / average)
            scores[unit] = scores.get(unit, 0.0) + weight * frequency * (K1 + 1) / (frequency + norm)
    return scores


def coverage(present: Sequence[bool], weights: Sequence[float]) -> float:
    """The share of the question's weight (IDF of each term) that a text contains, in [0, 1]."""
    total = sum(weights)
    if total <= 0:
        return 0.0
    return sum(w for p, w in zip(present, weights, strict=True) if p) / total


def standardized(scores: Mapping[int, float], over: Iterable[int]) -> dict[int, float]:
    """z-scores of `scores` over the units `over` (a unit without a score counts as 0). All equal:
    every z is 0 — a leg that cannot tell the candidates apart adds nothing."""
    units = list(over)
    if not units:
        return {}
    values = [scores.get(u, 0.0) for u in units]
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if spread <= 1e-12:
        return dict.fromkeys(units, 0.0)
    return {u: (v - mean) / spread for u, v in zip(units, values, strict=True)}


def fuse(legs: Sequence[Mapping[int, float]], over: Iterable[int]) -> dict[int, float]:
    """The sum of each leg's z-scores over the candidate units `over`, equal weights."""
    units = list(over)
    fused = dict.fromkeys(units, 0.0)
    for leg in legs:
        for unit, z in standardized(leg, units).items():
            fused[unit] += z
    return fused


def support(similarity: float | None, share: float | None) -> float:
    """How strongly a page answers a question: cosine similarity of its best passage plus the share
    of the question's terms it holds (each in [0, 1]; see the module's docstring)."""
    return max(0.0, similarity or 0.0) + (share or 0.0)
