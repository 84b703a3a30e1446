"""Sentence picking for the extractive backend (no generative model configured)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from backends.embedder import get_embedder
from search.citations import MAX_QUOTE_CHARS, SENTENCE_BREAK, split_sentences

QUOTE_SENTENCES = 4  # a quote is at most this many consecutive sentences (and MAX_QUOTE_CHARS)
QUOTE_CANDIDATES = 32  # quotes of a page compared by meaning, after the best by words


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """`(start, end)` of each sentence of `text`, surrounding white space excluded."""
    spans = []
    start = 0
    for cut in [*(m for m in SENTENCE_BREAK.finditer(text)), None]:
        end = cut.start() if cut is not None else len(text)
        piece = text[start:end]
        stripped = piece.strip()
        if len(stripped) > 2:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
        if cut is not None:
            start = cut.end()
    return spans


def _bounded(text: str, start: int, end: int) -> str:
    """`text[start:end]`, cut back to a word boundary within MAX_QUOTE_CHARS: still verbatim."""
    if end - start <= MAX_QUOTE_CHARS:
        return text[start:end]
    cut = text.rfind(" ", start, start + MAX_QUOTE_CHARS)
    return text[start : cut if cut > start else start + MAX_QUOTE_CHARS].rstrip()


def quote_windows(text: str) -> list[str]:
    """Candidate quotes of `text`: runs of 1 to QUOTE_SENTENCES consecutive sentences within
    MAX_QUOTE_CHARS, each a verbatim substring (an answer often follows the sentence that repeats
    the question's words: "Visit ... to find out more." then the address)."""
    spans = sentence_spans(text)
    windows = []
    for i, (start, _) in enumerate(spans):
        for j in range(i, min(len(spans), i + QUOTE_SENTENCES)):
            end = spans[j][1]
            if j > i and end - start > MAX_QUOTE_CHARS:
                break
            windows.append(_bounded(text, start, end))
    return windows or ([_bounded(text, 0, len(text.rstrip()))] if text.strip() else [])


@dataclass(frozen=True)
class Quote:
    passage: int  # index of the passage it comes from
    text: str  # verbatim from that passage
    score: float


def best_quote(query_vector: Sequence[float], passages: Sequence[str], share: Callable[[str], float]) -> Quote | None:
    """The quote of `passages` (one page's texts) that best answers the question: the most
    support — cosine similarity plus `share`, the part of the question's words it holds. Quotes
    are first narrowed by words (cheap), then compared by meaning."""
    candidates = [(i, window) for i, text in enumerate(passages) for window in quote_windows(text)]
    if not candidates:
        return None
    by_words = [share(window) for _, window in candidates]
    order = sorted(range(len(candidates)), key=lambda n: (-by_words[n], n))[:QUOTE_CANDIDATES]
    vectors = np.asarray(get_embedder().encode([candidates[n][1] for n in order]))
    scores = vectors @ np.asarray(query_vector) + np.asarray([by_words[n] for n in order])
    best = int(np.argmax(scores))
    passage, text = candidates[order[best]]
    return Quote(passage=passage, text=text, score=float(scores[best]))


def best_sentence_per_text(query_vector: Sequence[float], texts: Sequence[str]) -> list[tuple[str, float]]:
    """For each text, its sentence closest in meaning to the query (and that similarity)."""
    sentences_per_text = [split_sentences(t) or [t.strip()[:MAX_QUOTE_CHARS]] for t in texts]
    flat = [s for sentences in sentences_per_text for s in sentences]
    vectors = np.asarray(get_embedder().encode(flat)) if flat else np.zeros((0, 1))
    query = np.asarray(query_vector)
    best: list[tuple[str, float]] = []
    offset = 0
    for sentences in sentences_per_text:
        scores = vectors[offset : offset + len(sentences)] @ query
        index = int(np.argmax(scores))
        best.append((sentences[index], float(scores[index])))
        offset += len(sentences)
    return best


def central_indices(vectors: np.ndarray, count: int, diversity: float = 0.5) -> list[int]:
    """Maximal marginal relevance around the centroid: central, but not repetitive."""
    if len(vectors) == 0:
        return []
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    relevance = vectors @ centroid
    chosen: list[int] = []
    candidates = list(range(len(vectors)))
    while candidates and len(chosen) < count:
        redundancy = (vectors[candidates] @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(candidates))
        scores = (1 - diversity) * relevance[candidates] - diversity * redundancy
        pick = candidates[int(np.argmax(scores))]
        chosen.append(pick)
        candidates.remove(pick)
    return chosen
