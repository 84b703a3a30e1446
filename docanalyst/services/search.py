"""Passage search: hybrid retrieval (vectors + BM25), fused, optionally reranked, diversified.

Contract, in order:
1. Scope. The documents a hit may come from are one database query: collections the user may
   read (`collection_ids_readable_by`, the single permission chokepoint), status `ready`, the
   latest version unless old versions are asked for, and the user's filters (documents, file
   types, folder, upload dates). Both legs run *inside* that scope, so top-k is still k:
   the lexical leg joins it in SQL; the vector leg queries only the permitted collections'
   Chroma collections, narrowed by a document-id filter when the filters narrow documents.
2. Candidates. The dense leg (Chroma, cosine) and the lexical leg (database full-text, BM25)
   each bring `max(SEARCH_CANDIDATES, 4k)` candidates. The lexical leg also scores each
   document's title and front matter (its opening text: cover, title block, letterhead) against
   the query: a document-level prior (`SEARCH_FRONT_MATTER_WEIGHT`); for a query meant literally,
   only among the documents that contain the literal terms.
3. Re-check. Every candidate is resolved to its chunk row through the scope query again, so a
   vector left behind by a deleted document or a superseded version never surfaces.
4. Fusion by reciprocal rank (k=60) plus the front-matter prior, then the cross-encoder when
   `RERANKER_MODEL` is set.
5. Diversity: at most `SEARCH_MAX_PER_DOCUMENT` passages per document while other documents
   have candidates, so one long document does not fill every slot.

`method` runs one leg alone (`dense`, `lexical`) through the same steps; the evaluation harness
compares them.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db.models import Q, QuerySet

from docanalyst.backends import lexical
from docanalyst.backends.embedder import get_embedder
from docanalyst.backends.reranker import get_reranker
from docanalyst.backends.vectorstore import get_vector_store
from ingest.models import Chunk, Document
from ingest.selectors import User, collection_ids_readable_by

MAX_K = 50
RRF_K = 60

# File-type filter values and the MIME types they stand for (as the parser records them).
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "pdf": ("application/pdf",),
    "word": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/msword",
        "application/vnd.oasis.opendocument.text",
        "application/rtf",
        "text/rtf",
        "application/epub",
        "application/epub+zip",
    ),
    "spreadsheet": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel",
        "text/csv",
        "text/tsv",
        "text/tab-separated-values",
    ),
    "presentation": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-powerpoint",
    ),
    "email": ("message/rfc822", "application/vnd.ms-outlook", "application/x-ole-storage"),
    "image": ("image/",),  # a prefix
    "text": ("text/plain", "text/html", "text/markdown", "text/x-markdown", "text/x-rst", "text/org", "text/xml"),
}


class Method(enum.StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    LEXICAL = "lexical"


@dataclass(frozen=True)
class SearchFilters:
    """What the user narrowed the search to. Empty means everything they may read."""

    collection_ids: Sequence[int] = ()
    document_ids: Sequence[int] = ()
    file_types: Sequence[str] = ()
    folder: str = ""
    uploaded_from: datetime.date | None = None
    uploaded_to: datetime.date | None = None  # inclusive
    include_old_versions: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.file_types) - FILE_TYPES.keys()
        if unknown:
            raise ValueError(f"Unknown file type {sorted(unknown)[0]!r}: one of {', '.join(FILE_TYPES)}.")
        if self.uploaded_from and self.uploaded_to and self.uploaded_from > self.uploaded_to:
            raise ValueError("The upload date range ends before it starts.")

    @property
    def narrows_documents(self) -> bool:
        return bool(
            self.document_ids or self.file_types or self.folder.strip("/") or self.uploaded_from or self.uploaded_to
        )


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float  # the method's ranking score: cosine for dense; reciprocal rank plus front-matter prior otherwise
    similarity: float | None = None  # cosine similarity to the query; what answers test support with
    legs: tuple[str, ...] = field(default=())  # why it is here: "dense", "lexical", "front matter"

    @property
    def document(self) -> Document:
        return self.chunk.document

    @property
    def page(self) -> int | None:
        return self.chunk.page_number


def documents_in_scope(user: User, filters: SearchFilters) -> QuerySet[Document]:
    """The documents a search may return passages from (permissions, status, version, filters)."""
    permitted = collection_ids_readable_by(user, list(filters.collection_ids) or None)
    documents = Document.objects.filter(collection_id__in=permitted, status=Document.Status.READY)
    if not filters.include_old_versions:
        documents = documents.filter(is_latest=True)
    if filters.document_ids:
        documents = documents.filter(pk__in=list(filters.document_ids))
    if filters.file_types:
        by_type = Q()
        for name in filters.file_types:
            for mime in FILE_TYPES[name]:
                by_type |= Q(mime_type__startswith=mime) if mime.endswith("/") else Q(mime_type=mime)
        documents = documents.filter(by_type)
    folder = filters.folder.strip().strip("/")
    if folder:
        documents = documents.filter(path__startswith=f"{folder}/")
    if filters.uploaded_from:
        documents = documents.filter(created_at__date__gte=filters.uploaded_from)
    if filters.uploaded_to:
        documents = documents.filter(created_at__date__lte=filters.uploaded_to)
    return documents


def _parse_vector_id(vector_id: str) -> tuple[int, int] | None:
    document_id, _, ordinal = vector_id.partition(":")
    if not (document_id.isdigit() and ordinal.isdigit()):
        return None
    return int(document_id), int(ordinal)


def _dense_candidates(
    scope: QuerySet[Document], filters: SearchFilters, query_vector: list[float], depth: int
) -> dict[tuple[int, int], float]:
    collection_ids = sorted(set(scope.order_by().values_list("collection_id", flat=True).distinct()))
    if not collection_ids:
        return {}
    narrowed: dict[int, list[int]] | None = None
    if filters.narrows_documents:
        narrowed = {}
        for document_id, collection_id in scope.order_by().values_list("pk", "collection_id"):
            narrowed.setdefault(collection_id, []).append(document_id)
    hits = get_vector_store().query(
        collection_ids, query_vector, depth, include_versions=filters.include_old_versions, document_ids=narrowed
    )
    return {key: hit.score for hit in hits if (key := _parse_vector_id(hit.id)) is not None}


def _resolve(
    scope: QuerySet[Document], dense: dict[tuple[int, int], float], lexical_ids: Sequence[int]
) -> dict[int, Chunk]:
    """Chunk rows for the candidates, re-checked against the scope. Two indexed lookups (by primary
    key; by document and ordinal), never ORs across columns, which SQLite answers with a scan."""
    found: dict[int, Chunk] = {}
    related = ("document", "document__collection")
    if lexical_ids:
        for chunk in Chunk.objects.filter(pk__in=list(lexical_ids), document__in=scope).select_related(*related):
            found[chunk.pk] = chunk
    if dense:
        # Both INs walk the (document, ordinal) index; the few extra pairs are dropped here.
        documents = {document_id for document_id, _ in dense}
        ordinals = {ordinal for _, ordinal in dense}
        pairs = Chunk.objects.filter(document_id__in=documents, ordinal__in=ordinals, document__in=scope)
        wanted = [
            pk
            for pk, document_id, ordinal in pairs.values_list("pk", "document_id", "ordinal")
            if (document_id, ordinal) in dense
        ]
        for chunk in Chunk.objects.filter(pk__in=wanted).select_related(*related):
            found[chunk.pk] = chunk
    return found


def literal_terms(query: str, scope_sql: tuple[str, tuple[Any, ...]]) -> list[lexical.LexicalTerm]:
    """The terms of the query meant literally: quoted phrases, and part or section numbers that some
    but few passages in scope contain (at most `SEARCH_EXACT_MAX_MATCHES`)."""
    parsed = lexical.parse_query(query)
    cap = settings.SEARCH_EXACT_MAX_MATCHES
    return [
        t
        for t in lexical.exact_terms(parsed)
        if t in parsed.required or 1 <= lexical.count_matches(t, cap + 1, scope_sql) <= cap
    ]


def lexical_weight_for(literal: Sequence[lexical.LexicalTerm]) -> float:
    """How much the lexical leg counts in the fusion. A query with `literal` terms is meant
    literally: there the lexical leg is the better judge and counts fully. For a question in plain
    words the vector leg is (measured with bench/eval_retrieval), and the lexical leg only nudges
    (`SEARCH_LEXICAL_WEIGHT`)."""
    return 1.0 if literal else settings.SEARCH_LEXICAL_WEIGHT


def front_matter_prior(front: dict[int, float], chunks: dict[int, Chunk], weight: float) -> dict[int, float]:
    """Each passage's bonus from its document's front matter (`lexical.search_front_matter`), in
    reciprocal-rank units: `weight` times a first rank's score for the passages of the
    best-matching document, other documents' in proportion to their match. The same for every
    passage of a document, so it orders documents, never the passages within one."""
    best = max(front.values(), default=0.0)
    if best <= 0 or weight <= 0:
        return {}
    return {
        chunk_id: weight * front[chunk.document_id] / best / (RRF_K + 1)
        for chunk_id, chunk in chunks.items()
        if front.get(chunk.document_id, 0.0) > 0
    }


def _rank(
    method: Method,
    lexical_weight: float,
    chunks: dict[int, Chunk],
    dense: dict[tuple[int, int], float],
    lexical_ranked: list[tuple[int, float]],
    prior: dict[int, float] | None = None,
) -> list[SearchHit]:
    """Reciprocal-rank fusion of the legs, plus each passage's front-matter prior (`prior`, by chunk
    id); the dense method ranks by cosine similarity alone."""
    by_key = {(c.document_id, c.ordinal): c for c in chunks.values()}
    dense_order = [by_key[key] for key, _ in sorted(dense.items(), key=lambda kv: -kv[1]) if key in by_key]
    lexical_order = [chunks[chunk_id] for chunk_id, _ in lexical_ranked if chunk_id in chunks]
    fused: dict[int, float] = {}
    legs: dict[int, list[str]] = {}
    weights = {"dense": 1.0, "lexical": lexical_weight}
    for leg, order in (("dense", dense_order), ("lexical", lexical_order)):
        for rank, chunk in enumerate(order, start=1):
            fused[chunk.pk] = fused.get(chunk.pk, 0.0) + weights[leg] / (RRF_K + rank)
            legs.setdefault(chunk.pk, []).append(leg)
    prior = prior or {}
    for chunk_id in fused.keys() & prior.keys():
        legs[chunk_id].append("front matter")  # its document's title or cover matched: shown as a reason
    hits = []
    for chunk_id, fused_score in fused.items():
        chunk = chunks[chunk_id]
        similarity = dense.get((chunk.document_id, chunk.ordinal))
        if method is Method.DENSE:
            score = similarity if similarity is not None else 0.0
        else:
            score = fused_score + prior.get(chunk_id, 0.0)
        hits.append(SearchHit(chunk=chunk, score=score, similarity=similarity, legs=tuple(legs[chunk_id])))
    hits.sort(key=lambda hit: (-hit.score, hit.chunk.document_id, hit.chunk.ordinal))
    return hits


def _rerank(query: str, hits: list[SearchHit]) -> list[SearchHit]:
    reranker = get_reranker()
    if reranker is None or not hits:
        return hits
    head, tail = hits[: settings.RERANKER_CANDIDATES], hits[settings.RERANKER_CANDIDATES :]
    scores = reranker.scores(query, [hit.chunk.text for hit in head])
    order = sorted(range(len(head)), key=lambda i: -scores[i])
    return [replace(head[i], score=scores[i]) for i in order] + tail


def by_document_evidence(hits: Sequence[SearchHit], depth: int) -> list[SearchHit]:
    """Documents ordered by the evidence of their best `depth` passages together (the sum of their
    scores), passages within a document by their own score: a document that answers the question
    in several places outranks one with a single lucky passage."""
    evidence: dict[int, list[float]] = {}
    for hit in hits:
        scores = evidence.setdefault(hit.chunk.document_id, [])
        if len(scores) < depth:
            scores.append(hit.score)
    total = {document_id: sum(scores) for document_id, scores in evidence.items()}
    return sorted(hits, key=lambda hit: (-total[hit.chunk.document_id], -hit.score))


def diversify(hits: Sequence[SearchHit], k: int, per_document: int) -> list[SearchHit]:
    """The first k hits with at most `per_document` from any one document; when that leaves
    slots empty (few documents match), the best remaining hits fill them, in order."""
    picked: list[SearchHit] = []
    per: dict[int, int] = {}
    for hit in hits:
        if len(picked) == k:
            break
        if per.get(hit.chunk.document_id, 0) < per_document:
            per[hit.chunk.document_id] = per.get(hit.chunk.document_id, 0) + 1
            picked.append(hit)
    if len(picked) < k:
        chosen = {id(hit) for hit in picked}
        rest = [hit for hit in hits if id(hit) not in chosen]
        order = {id(hit): i for i, hit in enumerate(hits)}
        picked = sorted(picked + rest[: k - len(picked)], key=lambda hit: order[id(hit)])
    return picked


def _fill_similarity(hits: list[SearchHit], query_vector: list[float]) -> list[SearchHit]:
    """Cosine similarity for hits only the lexical leg found, from their stored vectors."""
    missing = [hit for hit in hits if hit.similarity is None]
    if not missing:
        return hits
    by_collection: dict[int, list[str]] = {}
    for hit in missing:
        by_collection.setdefault(hit.chunk.document.collection_id, []).append(hit.chunk.vector_id)
    stored: dict[str, list[float]] = {}
    store = get_vector_store()
    for collection_id, ids in by_collection.items():
        stored.update(store.embeddings(collection_id, ids))
    query = np.asarray(query_vector, dtype=np.float32)
    filled = []
    for hit in hits:
        vector = stored.get(hit.chunk.vector_id)
        if hit.similarity is None and vector is not None:
            hit = replace(hit, similarity=float(np.dot(query, np.asarray(vector, dtype=np.float32))))
        filled.append(hit)
    return filled


def chunks_search(
    *,
    user: User,
    query: str,
    k: int | None = None,
    filters: SearchFilters | None = None,
    method: Method | str = Method.HYBRID,
    collection_ids: Sequence[int] | None = None,
    include_old_versions: bool = False,
) -> list[SearchHit]:
    """The best passages for `query` that the user may read, within the filters.
    (`collection_ids` and `include_old_versions` are shorthands for the same filters.)"""
    method = Method(method)
    query = query.strip()
    k = max(1, min(k or settings.SEARCH_DEFAULT_K, MAX_K))
    filters = filters or SearchFilters()
    if collection_ids:
        filters = replace(filters, collection_ids=list(collection_ids))
    if include_old_versions:
        filters = replace(filters, include_old_versions=True)
    if not query:
        return []
    scope = documents_in_scope(user, filters)
    depth = max(settings.SEARCH_CANDIDATES, 4 * k)

    query_vector: list[float] | None = None
    dense: dict[tuple[int, int], float] = {}
    if method is not Method.LEXICAL:
        query_vector = get_embedder().encode([query])[0]
        dense = _dense_candidates(scope, filters, query_vector, depth)
    lexical_ranked: list[tuple[int, float]] = []
    front: dict[int, float] = {}
    literal: list[lexical.LexicalTerm] = []
    if method is not Method.DENSE:
        try:
            scope_sql = scope.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # nothing can be in scope (no collection the user may read was asked for)
            scope_sql = None
        if scope_sql is not None:
            literal = literal_terms(query, scope_sql)
            lexical_ranked = lexical.search_chunks(query, scope_sql, depth)
            if settings.SEARCH_FRONT_MATTER_WEIGHT > 0:
                front = lexical.search_front_matter(query, scope_sql)
                if front and literal:
                    # Meant literally: the prior only chooses among the documents that have the term,
                    # never lifts one that only talks about the same things above the one that has it.
                    having = lexical.documents_containing(literal, scope_sql)
                    front = {document_id: score for document_id, score in front.items() if document_id in having}
    if not dense and not lexical_ranked:
        return []

    chunks = _resolve(scope, dense, [chunk_id for chunk_id, _ in lexical_ranked])
    weight = lexical_weight_for(literal) if method is Method.HYBRID else 1.0
    prior = front_matter_prior(front, chunks, settings.SEARCH_FRONT_MATTER_WEIGHT)
    hits = _rank(method, weight, chunks, dense, lexical_ranked, prior)
    if method is Method.HYBRID:
        hits = _rerank(query, hits)
    if settings.SEARCH_DOCUMENT_EVIDENCE:
        hits = by_document_evidence(hits, settings.SEARCH_DOCUMENT_EVIDENCE)
    hits = diversify(hits, k, settings.SEARCH_MAX_PER_DOCUMENT)
    if query_vector is not None:
        hits = _fill_similarity(hits, query_vector)
    return hits
