"""The arithmetic of ranking, by hand: BM25, the share of a question a text holds, and the fusion
of standardised scores (a leg that cannot tell the candidates apart adds nothing)."""

from __future__ import annotations

import math

import pytest

from search import ranking
from search.evidence import text_coverage


def test_bm25_is_the_textbook_formula_with_lucene_idf() -> None:
    # Two terms over three units of lengths 10, 20, 30 (mean 20); k1 1.2, b 0.75.
    counts = [{1: 2, 2: 1}, {3: 1}]
    lengths = {1: 10, 2: 20, 3: 30}

    scores = ranking.bm25(counts, lengths, total=3, average_length=20)

    def term(frequency: int, length: int, containing: int) -> float:
        idf = math.log(1 + (3 - containing + 0.5) / (containing + 0.5))
        return idf * frequency * 2.2 / (frequency + 1.2 * (0.25 + 0.75 * length / 20))

    assert scores == pytest.approx({1: term(2, 10, 2), 2: term(1, 20, 2), 3: term(1, 30, 1)})
    assert scores[3] > scores[2]  # the rarer term weighs more
    assert ranking.bm25(counts, lengths, 3, 20, unit_ids=[2, 4]) == pytest.approx({2: term(1, 20, 2), 4: 0.0})


def test_idf_is_never_negative_and_largest_for_an_absent_term() -> None:
    assert ranking.idf(10, 10) > 0
    assert ranking.idf(10, 0) > ranking.idf(10, 1) > ranking.idf(10, 9)


def test_fusion_adds_standardised_scores_and_a_flat_leg_adds_nothing() -> None:
    pages = list(range(1, 21))
    words = {p: (9.0 if p == 1 else 1.0 + p / 100) for p in pages}  # one page stands far out
    meaning = {p: 0.72 if p == 2 else 0.50 + p / 100 for p in pages}  # spread evenly, page 2 barely first
    flat = dict.fromkeys(pages, 3.0)

    fused = ranking.fuse([words, meaning, flat], pages)

    assert max(meaning, key=meaning.__getitem__) == 2 and min(meaning, key=meaning.__getitem__) == 1
    assert max(fused, key=fused.__getitem__) == 1  # the leg that is sure decides
    assert ranking.fuse([meaning, flat], [1, 2, 3, 4]) == pytest.approx(ranking.standardized(meaning, [1, 2, 3, 4]))
    assert ranking.standardized({}, [1, 2]) == {1: 0.0, 2: 0.0}
    assert sum(ranking.standardized(words, [1, 2, 3, 4]).values()) == pytest.approx(0.0)


def test_coverage_weighs_a_questions_terms_by_their_idf_and_matches_phrases_in_order() -> None:
    terms = ((("hypochlorite",), 3.0), (("bay",), 1.0), (("tc", "4410", "b"), 2.0))

    assert text_coverage("Sodium hypochlorite is kept in bay 7.", terms) == pytest.approx(4 / 6)
    assert text_coverage("Bolt TC-4410-B, bay 3; hypochlorite.", terms) == pytest.approx(1.0)
    assert text_coverage("b 4410 tc", terms) == 0.0  # a phrase's tokens out of order are not the phrase
    assert ranking.support(0.5, 0.4) == pytest.approx(0.9) and ranking.support(None, None) == 0.0
