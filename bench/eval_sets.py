"""Question sets, relevance judgements, ranking metrics and the plain-BM25 baseline of
`bench/eval_retrieval.py` (no Django at import time).

Document ranking: the order in which documents first appear in a hit list; page ranking the same
for `(document, page)`. recall@k is |relevant ∩ top-k| / min(|relevant|, k), averaged over
questions; hit@k is 1 when any relevant item is in the top k; MRR is 1/rank of the first relevant
item (0 if none); nDCG@10 uses binary relevance with the ideal DCG over min(|relevant|, 10).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import math
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from ingest.models import Document

CUTOFFS = (1, 5, 10)
T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Relevant:
    document: str  # a file name or a glob over file names
    page: int | None = None


@dataclass(frozen=True)
class Question:
    text: str
    relevant: tuple[Relevant, ...]
    kind: str = ""  # the set's question type, when it has one
    answer: str = ""  # the reference answer, when the set has one


def read_qa_csv(path: Path) -> list[Question]:
    """The qa-10q format: `Question`, `Source Docs` (comma-separated names or globs), `Question Type`."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    questions = []
    for row in rows:
        patterns = [p.strip() for p in (row.get("Source Docs") or "").split(",") if p.strip()]
        questions.append(
            Question(
                text=row["Question"].strip(),
                relevant=tuple(Relevant(document=p) for p in patterns),
                kind=(row.get("Question Type") or "").strip(),
                answer=(row.get("Answer") or "").strip(),
            )
        )
    return questions


def read_jsonl(path: Path) -> list[Question]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            relevant = tuple(
                Relevant(document=str(r["document"]), page=int(r["page"]) if r.get("page") is not None else None)
                for r in item["relevant"]
            )
            questions.append(
                Question(
                    text=str(item["question"]).strip(),
                    relevant=relevant,
                    kind=item.get("type", ""),
                    answer=str(item.get("answer") or "").strip(),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemExit(f"{path}:{number}: not a question line ({type(exc).__name__}: {exc})") from exc
    return questions


def read_questions(path: Path) -> list[Question]:
    return read_jsonl(path) if path.suffix.lower() in (".jsonl", ".json") else read_qa_csv(path)


# --- relevance judgements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """A question with its relevant documents resolved to the ingested, ready ones."""

    question: Question
    documents: frozenset[int]
    pages: frozenset[tuple[int, int]]
    not_ready: tuple[str, ...]  # relevant documents that exist but did not become ready
    unmatched: tuple[str, ...]  # names or globs that match no document at all


def name_matches(pattern: str, document: Document) -> bool:
    pattern = pattern.strip().casefold()
    names = {document.original_name.casefold(), document.path.casefold(), Path(document.original_name).stem.casefold()}
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


def judge(questions: Sequence[Question], documents: Sequence[Document]) -> list[Judged]:
    from ingest.models import Document

    judged = []
    for question in questions:
        ready: set[int] = set()
        pages: set[tuple[int, int]] = set()
        not_ready: set[str] = set()
        unmatched = []
        for relevant in question.relevant:
            matched = [d for d in documents if name_matches(relevant.document, d)]
            if not matched:
                unmatched.append(relevant.document)
            for document in matched:
                if document.status != Document.Status.READY:
                    not_ready.add(f"{document.original_name} ({document.status})")
                    continue
                ready.add(document.pk)
                if relevant.page is not None:
                    pages.add((document.pk, relevant.page))
        judged.append(Judged(question, frozenset(ready), frozenset(pages), tuple(sorted(not_ready)), tuple(unmatched)))
    return judged


# --- metrics -------------------------------------------------------------------------------------


def first_appearances(items: Iterable[T]) -> list[T]:
    seen: set[T] = set()
    ranked: list[T] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            ranked.append(item)
    return ranked


def ranking_metrics(ranked: Sequence[Hashable], relevant: frozenset[Any]) -> dict[str, float]:
    """recall@k, hit@k, MRR and nDCG@10 of one ranking against a non-empty relevant set."""
    scores: dict[str, float] = {}
    for k in CUTOFFS:
        found = sum(1 for item in ranked[:k] if item in relevant)
        scores[f"recall@{k}"] = found / min(len(relevant), k)
    for k in CUTOFFS:
        scores[f"hit@{k}"] = 1.0 if any(item in relevant for item in ranked[:k]) else 0.0
    first = next((rank for rank, item in enumerate(ranked, start=1) if item in relevant), None)
    scores["mrr"] = 1.0 / first if first else 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(ranked[:10], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1))
    scores["ndcg@10"] = dcg / ideal
    return scores


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {name: sum(row[name] for row in rows) / len(rows) for name in rows[0]} if rows else {}


def latency(samples_ms: Sequence[float]) -> dict[str, float]:
    if not samples_ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0, "n": 0}
    values = np.asarray(samples_ms)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "mean_ms": float(values.mean()),
        "n": len(samples_ms),
    }


def metric_line(name: str, metrics: dict[str, float], timing: dict[str, float] | None = None) -> str:
    parts = [f"{key}={value:.3f}" for key, value in metrics.items()]
    if timing is not None:
        parts += [f"p50_ms={timing['p50_ms']:.1f}", f"p95_ms={timing['p95_ms']:.1f}"]
    return " ".join([name, *parts])


# --- the plain BM25 baseline ---------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


class PlainBM25:
    """A textbook BM25 (k1 1.2, b 0.75, Lucene IDF, lower-case alphanumeric tokens, no stop words,
    no stemming) over texts held in memory: the baseline any search of these texts should reach.
    It reads the app's own page texts, so it measures ranking, not text extraction."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for unit, text in enumerate(texts):
            counts = Counter(_WORD.findall(text.lower()))
            lengths.append(sum(counts.values()))
            for word, count in counts.items():
                self.postings.setdefault(word, []).append((unit, count))
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.norm = k1 * (1 - b + b * self.lengths / max(self.lengths.mean(), 1.0)) if len(texts) else self.lengths
        self.k1 = k1
        self.size = len(texts)

    def ranked(self, query: str, limit: int) -> list[int]:
        """Unit indexes, best first (only units holding a query word)."""
        scores = np.zeros(self.size)
        for word in set(_WORD.findall(query.lower())):
            postings = self.postings.get(word)
            if not postings:
                continue
            idf = math.log(1 + (self.size - len(postings) + 0.5) / (len(postings) + 0.5))
            units = np.fromiter((u for u, _ in postings), dtype=np.int64)
            counts = np.fromiter((c for _, c in postings), dtype=np.float64)
            scores[units] += idf * counts * (self.k1 + 1) / (counts + self.norm[units])
        best = np.argsort(-scores, kind="stable")[:limit]
        return [int(u) for u in best if scores[u] > 0]
