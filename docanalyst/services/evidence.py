"""The evidence search weighs, gathered for the pages of a scope: what the words say (BM25 of pages
and of documents, the share of the question a text holds) and what the vectors say (each page's
best passage similarity). Reads only; the search service (`docanalyst.services.search`) decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db.models import QuerySet

from docanalyst.backends import lexical
from docanalyst.backends.vectorstore import get_vector_store
from docanalyst.services import ranking
from ingest.models import Chunk, Document, Page


@dataclass(frozen=True)
class PageRef:
    """A page of a document in scope, without its text."""

    id: int
    document_id: int
    collection_id: int
    number: int | None
    ordinal: int


@dataclass
class LexicalEvidence:
    """The query's terms counted on the scope's pages, and what follows from the counts."""

    query: lexical.LexicalQuery
    statistics: lexical.ScopeStatistics
    counts: list[lexical.PageCounts]
    words: dict[int, int]
    page_scores: dict[int, float] = field(default_factory=dict)  # BM25 of every page holding a term
    document_scores: dict[int, float] = field(default_factory=dict)  # BM25 of documents, counting pages
    weights: list[float] = field(default_factory=list)  # each term's IDF over the scope's pages

    @classmethod
    def gather(cls, query: lexical.LexicalQuery, scope_sql: lexical.SqlQuery) -> LexicalEvidence:
        statistics = lexical.scope_statistics(scope_sql)
        counts, words = lexical.page_counts(query, scope_sql) if not query.is_empty else ([], {})
        evidence = cls(query, statistics, counts, words)
        total, average = statistics.pages, statistics.words / max(statistics.pages, 1)
        evidence.page_scores = ranking.bm25([c.counts for c in counts], words, total, average)
        documents = statistics.pages_per_document
        evidence.document_scores = ranking.bm25(
            [c.documents for c in counts], documents, len(documents), total / max(len(documents), 1)
        )
        evidence.weights = [ranking.idf(total, len(c.counts)) for c in counts]
        return evidence

    def best_pages(self, depth: int, allowed: set[int] | None) -> dict[int, float]:
        ranked = sorted(
            (item for item in self.page_scores.items() if allowed is None or item[0] in allowed),
            key=lambda item: (-item[1], item[0]),
        )
        return dict(ranked[:depth])

    def page_coverage(self, page_id: int) -> float:
        """The share of the question's weight on this page."""
        return ranking.coverage([page_id in c.counts for c in self.counts], self.weights)

    def text_coverage(self, text: str) -> float:
        """The share of the question's weight in a passage's text (its own tokens, phrases in order)."""
        found = lexical.tokens(text)
        present = set(found)
        joined = " " + " ".join(found) + " "
        return ranking.coverage(
            [
                (c.term.tokens[0] in present) if len(c.term.tokens) == 1 else f" {' '.join(c.term.tokens)} " in joined
                for c in self.counts
            ],
            self.weights,
        )


def pages_of_chunks(scope: QuerySet[Document], keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], PageRef]:
    """The page of each `(document id, chunk ordinal)`, re-checked against the scope."""
    keys = list(keys)
    if not keys:
        return {}
    documents = {document_id for document_id, _ in keys}
    ordinals = {ordinal for _, ordinal in keys}
    chunk_rows = Chunk.objects.filter(document_id__in=documents, ordinal__in=ordinals, document__in=scope)
    located = {
        (document_id, ordinal): number
        for document_id, ordinal, number in chunk_rows.values_list("document_id", "ordinal", "page_number")
        if (document_id, ordinal) in set(keys)
    }
    numbered = {(d, n) for (d, _), n in located.items() if n is not None}
    loose = {(d, o) for (d, o), n in located.items() if n is None}
    refs = _page_refs(
        Page.objects.filter(document_id__in={d for d, _ in numbered}, number__in={n for _, n in numbered})
    ) + _page_refs(
        Page.objects.filter(
            document_id__in={d for d, _ in loose}, number__isnull=True, ordinal__in={o for _, o in loose}
        )
    )
    by_number = {(r.document_id, r.number): r for r in refs if r.number is not None}
    by_ordinal = {(r.document_id, r.ordinal): r for r in refs if r.number is None}
    found: dict[tuple[int, int], PageRef] = {}
    for key, number in located.items():
        ref = by_number.get((key[0], number)) if number is not None else by_ordinal.get(key)
        if ref is not None:
            found[key] = ref
    return found


def page_refs(scope: QuerySet[Document], page_ids: Iterable[int]) -> dict[int, PageRef]:
    """Pages by id, re-checked against the scope."""
    ids = list(page_ids)
    if not ids:
        return {}
    return {ref.id: ref for ref in _page_refs(Page.objects.filter(pk__in=ids, document__in=scope))}


def _page_refs(pages: QuerySet[Page]) -> list[PageRef]:
    rows = pages.values_list("pk", "document_id", "document__collection_id", "number", "ordinal")
    return [PageRef(*row) for row in rows]


def chunks_of_pages(refs: Sequence[PageRef], scope: QuerySet[Document], *, rows: bool = False) -> dict[int, list]:  # type: ignore[type-arg]
    """Each page's chunks, in order: `(document id, ordinal)` keys, or the `Chunk` rows (with their
    document and collection) when `rows` is set; re-checked against the scope."""
    numbered = [r for r in refs if r.number is not None]
    loose = [r for r in refs if r.number is None]
    page_of: dict[tuple[int, object], int] = {}
    for r in numbered:
        page_of[(r.document_id, ("page", r.number))] = r.id
    for r in loose:
        page_of[(r.document_id, ("chunk", r.ordinal))] = r.id
    result: dict[int, list] = {r.id: [] for r in refs}  # type: ignore[type-arg]
    queries = []
    if numbered:
        queries.append(
            Chunk.objects.filter(
                document_id__in={r.document_id for r in numbered}, page_number__in={r.number for r in numbered}
            )
        )
    if loose:
        queries.append(
            Chunk.objects.filter(
                document_id__in={r.document_id for r in loose},
                page_number__isnull=True,
                ordinal__in={r.ordinal for r in loose},
            )
        )
    for chunks in queries:
        chunks = chunks.filter(document__in=scope).order_by("document_id", "ordinal")
        items = (
            chunks.select_related("document", "document__collection")
            if rows
            else chunks.only("document_id", "ordinal", "page_number")
        )
        for chunk in items:
            key = ("page", chunk.page_number) if chunk.page_number is not None else ("chunk", chunk.ordinal)
            page_id = page_of.get((chunk.document_id, key))
            if page_id is not None:
                result[page_id].append(chunk if rows else (chunk.document_id, chunk.ordinal))
    return result


def similarities(
    query_vector: Sequence[float], keys_by_collection: Mapping[int, Iterable[tuple[int, int]]]
) -> dict[tuple[int, int], float]:
    """Cosine similarity of the query to the stored vector of each chunk `(document id, ordinal)`."""
    store = get_vector_store()
    query = np.asarray(query_vector, dtype=np.float32)
    found: dict[tuple[int, int], float] = {}
    for collection_id, keys in keys_by_collection.items():
        wanted = {f"{d}:{o}": (d, o) for d, o in keys}
        if not wanted:
            continue
        for vector_id, vector in store.embeddings(collection_id, list(wanted)).items():
            found[wanted[vector_id]] = float(np.dot(query, np.asarray(vector, dtype=np.float32)))
    return found
