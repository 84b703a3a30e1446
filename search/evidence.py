"""The evidence search weighs, gathered for the pages of a scope: what the words say (BM25 of pages
and of documents, the share of the question a text holds) and what the vectors say (each page's
best passage similarity). Reads only; the search service (`search.retrieval`) decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db.models import QuerySet

from backends import lexical
from backends.vectorstore import get_vector_store
from ingest.models import Chunk, Document, Page
from search import ranking


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
        # A document's evidence: its pages that hold a term, and its title as one more "page".
        titles = lexical.titles_containing(query, scope_sql) if counts else {}
        lengths = {document_id: pages + 1 for document_id, pages in statistics.pages_per_document.items()}
        per_document = []
        for c in counts:
            holding = dict(c.documents)
            for document_id in titles.get(c.term.tokens, ()):
                holding[document_id] = holding.get(document_id, 0) + 1
            per_document.append(holding)
        evidence.document_scores = ranking.bm25(
            per_document, lengths, len(lengths), sum(lengths.values()) / max(len(lengths), 1)
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

    @property
    def weighted_terms(self) -> tuple[tuple[tuple[str, ...], float], ...]:
        """Each term's tokens and its weight (IDF over the scope's pages)."""
        return tuple((c.term.tokens, w) for c, w in zip(self.counts, self.weights, strict=True))

    def text_coverage(self, text: str) -> float:
        return text_coverage(text, self.weighted_terms)


def text_coverage(text: str, terms: Sequence[tuple[tuple[str, ...], float]]) -> float:
    """The share of the question's weight in a text: which of `terms` (tokens, weight) it holds
    (a phrase: its tokens in order)."""
    found = lexical.tokens(text)
    present = set(found)
    joined = " " + " ".join(found) + " "
    return ranking.coverage(
        [(t[0] in present) if len(t) == 1 else f" {' '.join(t)} " in joined for t, _ in terms],
        [w for _, w in terms],
    )


def pages_of_chunks(scope: QuerySet[Document], keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], PageRef]:
    """The page of each chunk `(document id, ordinal)`, re-checked against the scope."""
    keys = set(keys)
    if not keys:
        return {}
    # Both INs walk the (document, ordinal) index; the few extra pairs are dropped here.
    chunk_rows = Chunk.objects.filter(
        document_id__in={d for d, _ in keys}, ordinal__in={o for _, o in keys}, document__in=scope
    ).values_list("document_id", "ordinal", "page_id")
    page_of = {(d, o): p for d, o, p in chunk_rows if (d, o) in keys and p is not None}
    refs = {ref.id: ref for ref in _page_refs(Page.objects.filter(pk__in=set(page_of.values())))}
    return {key: refs[page_id] for key, page_id in page_of.items() if page_id in refs}


def page_refs(scope: QuerySet[Document], page_ids: Iterable[int]) -> dict[int, PageRef]:
    """Pages by id, re-checked against the scope."""
    ids = list(page_ids)
    if not ids:
        return {}
    return {ref.id: ref for ref in _page_refs(Page.objects.filter(pk__in=ids, document__in=scope))}


def _page_refs(pages: QuerySet[Page]) -> list[PageRef]:
    rows = pages.values_list("pk", "document_id", "document__collection_id", "number", "ordinal")
    return [PageRef(*row) for row in rows]


def chunk_keys_of_pages(page_ids: Iterable[int], scope: QuerySet[Document]) -> dict[int, list[tuple[int, int]]]:
    """Each page's chunks as `(document id, ordinal)`, in order, re-checked against the scope."""
    found: dict[int, list[tuple[int, int]]] = {page_id: [] for page_id in page_ids}
    rows = Chunk.objects.filter(page_id__in=list(found), document__in=scope).order_by("document_id", "ordinal")
    for page_id, document_id, ordinal in rows.values_list("page_id", "document_id", "ordinal"):
        found[page_id].append((document_id, ordinal))
    return found


@dataclass(frozen=True)
class PassageText:
    id: int
    document_id: int
    ordinal: int
    text: str


def passages_of_pages(page_ids: Iterable[int], scope: QuerySet[Document]) -> dict[int, list[PassageText]]:
    """Each page's chunks (id, document, ordinal, text), in order, re-checked against the scope."""
    found: dict[int, list[PassageText]] = {page_id: [] for page_id in page_ids}
    rows = Chunk.objects.filter(page_id__in=list(found), document__in=scope).order_by("document_id", "ordinal")
    for chunk_id, page_id, document_id, ordinal, text in rows.values_list(
        "pk", "page_id", "document_id", "ordinal", "text"
    ):
        found[page_id].append(PassageText(chunk_id, document_id, ordinal, text))
    return found


def chunk_rows(chunk_ids: Iterable[int], scope: QuerySet[Document]) -> dict[int, Chunk]:
    """Chunk rows with their document and collection, re-checked against the scope."""
    rows = Chunk.objects.filter(pk__in=list(chunk_ids), document__in=scope)
    return {chunk.pk: chunk for chunk in rows.select_related("document", "document__collection")}


def similarities(
    query_vector: Sequence[float], keys_by_collection: Mapping[int, Iterable[tuple[int, int]]], versions: bool
) -> dict[tuple[int, int], float]:
    """Cosine similarity of the query to the stored vector of each chunk `(document id, ordinal)`
    (also among superseded versions' vectors when `versions` is set)."""
    store = get_vector_store()
    query = np.asarray(query_vector, dtype=np.float32)
    found: dict[tuple[int, int], float] = {}
    for collection_id, keys in keys_by_collection.items():
        wanted = {f"{d}:{o}": (d, o) for d, o in keys}
        if not wanted:
            continue
        for vector_id, vector in store.embeddings(collection_id, list(wanted), versions=versions).items():
            found[wanted[vector_id]] = float(np.dot(query, np.asarray(vector, dtype=np.float32)))
    return found
