"""Sentence picking for the extractive backend (no generative model configured)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from docanalyst.backends.embedder import get_embedder

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n{2,}")
MAX_QUOTE_CHARS = 400


def split_sentences(text: str) -> list[str]:
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(text)]
    return [s if len(s) <= MAX_QUOTE_CHARS else s[: MAX_QUOTE_CHARS - 1] + "…" for s in sentences if len(s) > 2]


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
