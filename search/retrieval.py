"""Passage search: the pages of the documents a user may read, ranked by fused evidence, each
shown by its best passage.

Contract, in order:
1. Scope. The documents a hit may come from are one database query: collections the user may
   read (`collection_ids_readable_by`, the single permission chokepoint), status `ready`, the
   latest version unless old versions are asked for, and the user's filters (documents, file
   types, folder, upload dates). Every kind of evidence is taken inside that scope, so top-k is
   still k and no statistic depends on documents the user may not read.
2. Evidence (`search.evidence`, arithmetic in `search.ranking`):
   - dense: Chroma's `depth` nearest chunks in the permitted collections; a page's similarity is
     that of its best chunk;
   - lexical: BM25 of every page in scope that holds a query term (statistics over the scope),
     and BM25 of each document counting its pages — the evidence that ties a page to the
     document a question is about (a company on a filing's cover, a contract's parties).
   `"quoted phrases"` must appear: pages without them are not candidates.
3. Candidates: the pages of the dense leg's chunks and the lexical leg's `depth` best pages; a
   page the dense leg did not reach gets its exact similarity from its chunks' stored vectors.
4. Fusion: the z-scores of page similarity, page BM25 and document BM25 over the candidates,
   added with equal weights (`ranking.fuse`). `method="dense"` ranks by similarity alone,
   `method="lexical"` by the two lexical scores; the evaluation harness compares them.
5. Re-check: every page resolves to its chunks through the scope query again, so a vector left
   behind by a deleted document or a superseded version never surfaces.
6. Diversity: at most `SEARCH_MAX_PER_DOCUMENT` pages per document while other documents have
   candidates, so one long document does not fill every slot.
7. Passage: each page is shown by its chunk with the most support (similarity plus the share of
   the question it holds); a cross-encoder, when `RERANKER_MODEL` is set, reorders the head.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db.models import Q, QuerySet

from backends import lexical
from backends.embedder import get_embedder
from backends.reranker import get_reranker
from backends.vectorstore import get_vector_store
from ingest.models import Chunk, Document
from ingest.selectors import User, collection_ids_readable_by
from search import evidence, ranking

MAX_K = 50

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

# The dense leg of searches runs here while the lexical leg reads the database in the request's
# thread (the encoder and the Chroma client release the GIL while they work).
# SEARCH_DENSE_THREADS=0 runs them one after the other (what `bench/eval_retrieval --scale` compares).
_LEGS = ThreadPoolExecutor(max_workers=max(1, settings.SEARCH_DENSE_THREADS), thread_name_prefix="dense-leg")


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
    """The best passage of one page (pages are what search ranks)."""

    chunk: Chunk
    score: float  # the method's ranking score: cosine for dense; the fused z-scores otherwise
    similarity: float | None = None  # the passage's cosine similarity to the query
    legs: tuple[str, ...] = field(default=())  # why its page is here: "dense", "lexical"
    coverage: float | None = None  # the share of the question's terms (IDF-weighted) on its page
    support: float | None = None  # its page's best similarity plus that share: what answers rest on
    terms: tuple[tuple[tuple[str, ...], float], ...] = ()  # the question's terms and their weights

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


@dataclass(frozen=True)
class _DenseScope:
    """What the dense leg may query, read from the database before it leaves this thread."""

    collection_ids: list[int]
    narrowed: dict[int, list[int]] | None  # collection → documents, when the filters narrow documents
    include_versions: bool


def _dense_scope(scope: QuerySet[Document], filters: SearchFilters) -> _DenseScope:
    collection_ids = sorted(set(scope.order_by().values_list("collection_id", flat=True).distinct()))
    narrowed: dict[int, list[int]] | None = None
    if collection_ids and filters.narrows_documents:
        narrowed = {}
        for document_id, collection_id in scope.order_by().values_list("pk", "collection_id"):
            narrowed.setdefault(collection_id, []).append(document_id)
    return _DenseScope(collection_ids, narrowed, filters.include_old_versions)


def _nearest(query: str, dense_scope: _DenseScope, depth: int) -> tuple[list[float], dict[tuple[int, int], float]]:
    """The query's vector and its nearest chunks: the encoder and Chroma only, no database, so that
    it runs in another thread while the lexical leg reads the database."""
    query_vector = get_embedder().encode([query])[0]
    if not dense_scope.collection_ids:
        return query_vector, {}
    hits = get_vector_store().query(
        dense_scope.collection_ids,
        query_vector,
        depth,
        include_versions=dense_scope.include_versions,
        document_ids=dense_scope.narrowed,
    )
    return query_vector, {key: hit.score for hit in hits if (key := _parse_vector_id(hit.id)) is not None}


def _scope_sql(scope: QuerySet[Document]) -> lexical.SqlQuery | None:
    try:
        return scope.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # nothing can be in scope (no collection the user may read was asked for)
        return None


def diversify(pages: Sequence[evidence.PageRef], k: int, per_document: int) -> list[evidence.PageRef]:
    """The first k pages with at most `per_document` from any one document; when that leaves
    slots empty (few documents match), the best remaining pages fill them, in order."""
    picked: list[evidence.PageRef] = []
    per: dict[int, int] = {}
    for page in pages:
        if len(picked) == k:
            break
        if per.get(page.document_id, 0) < per_document:
            per[page.document_id] = per.get(page.document_id, 0) + 1
            picked.append(page)
    if len(picked) < k:
        chosen = {page.id for page in picked}
        rest = [page for page in pages if page.id not in chosen]
        order = {page.id: i for i, page in enumerate(pages)}
        picked = sorted(picked + rest[: k - len(picked)], key=lambda page: order[page.id])
    return picked


def _rerank(query: str, hits: list[SearchHit]) -> list[SearchHit]:
    reranker = get_reranker()
    if reranker is None or not hits:
        return hits
    head, tail = hits[: settings.RERANKER_CANDIDATES], hits[settings.RERANKER_CANDIDATES :]
    scores = reranker.scores(query, [hit.chunk.text for hit in head])
    order = sorted(range(len(head)), key=lambda i: -scores[i])
    return [replace(head[i], score=scores[i]) for i in order] + tail


@dataclass
class _Candidates:
    """The candidate pages of one search and what is known of each."""

    pages: dict[int, evidence.PageRef] = field(default_factory=dict)
    similarity: dict[int, float] = field(default_factory=dict)  # page id -> its best chunk's cosine
    chunk_similarity: dict[tuple[int, int], float] = field(default_factory=dict)
    legs: dict[int, list[str]] = field(default_factory=dict)

    def add(self, ref: evidence.PageRef, leg: str) -> None:
        self.pages.setdefault(ref.id, ref)
        reasons = self.legs.setdefault(ref.id, [])
        if leg not in reasons:
            reasons.append(leg)


def _by_collection(keys: list[tuple[int, int]], refs: dict[int, evidence.PageRef]) -> dict[int, list[tuple[int, int]]]:
    collection_of = {ref.document_id: ref.collection_id for ref in refs.values()}
    grouped: dict[int, list[tuple[int, int]]] = {}
    for key in keys:
        grouped.setdefault(collection_of[key[0]], []).append(key)
    return grouped


def _fill_similarities(
    candidates: _Candidates, keys: list[tuple[int, int]], query_vector: list[float], versions: bool
) -> None:
    """Exact similarities for these chunks, from their stored vectors (the dense leg did not bring them)."""
    missing = [key for key in keys if key not in candidates.chunk_similarity]
    if missing:
        found = evidence.similarities(query_vector, _by_collection(missing, candidates.pages), versions)
        candidates.chunk_similarity.update(found)


def _passage(
    chunks: list[evidence.PassageText],
    method: Method,
    candidates: _Candidates,
    lexical_evidence: evidence.LexicalEvidence | None,
) -> evidence.PassageText:
    """The chunk that shows a page: the one with the most support for the question. A chunk the
    dense leg did not bring is less similar than every one it did: it counts at their floor."""
    floor = min(candidates.chunk_similarity.values(), default=0.0)

    def similarity(chunk: evidence.PassageText) -> float:
        return candidates.chunk_similarity.get((chunk.document_id, chunk.ordinal), floor)

    def share(chunk: evidence.PassageText) -> float:
        return lexical_evidence.text_coverage(chunk.text) if lexical_evidence is not None else 0.0

    if method is Method.DENSE:
        return max(chunks, key=lambda c: (similarity(c), -c.ordinal))
    return max(chunks, key=lambda c: (ranking.support(similarity(c), share(c)), -c.ordinal))


def _start_dense_leg(
    query: str, dense_scope: _DenseScope, depth: int
) -> Future[tuple[list[float], dict[tuple[int, int], float]]]:
    """`_nearest` in the dense-leg threads, or here and now when SEARCH_DENSE_THREADS is 0."""
    if settings.SEARCH_DENSE_THREADS:
        return _LEGS.submit(_nearest, query, dense_scope, depth)
    done: Future[tuple[list[float], dict[tuple[int, int], float]]] = Future()
    try:
        done.set_result(_nearest(query, dense_scope, depth))
    except Exception as exc:  # noqa: BLE001 - raised where the threaded leg's would be, at .result()
        done.set_exception(exc)
    return done


def _dense_leg(
    candidates: _Candidates,
    scope: QuerySet[Document],
    dense: dict[tuple[int, int], float],
    allowed: set[int] | None,
    method: Method,
) -> None:
    """Pages of the chunks nearest the query (within `allowed` pages when the query requires terms)."""
    candidates.chunk_similarity.update(dense)
    for key, ref in evidence.pages_of_chunks(scope, dense).items():
        if method is Method.DENSE or allowed is None or ref.id in allowed:
            candidates.add(ref, "dense")
            candidates.similarity[ref.id] = max(candidates.similarity.get(ref.id, -1.0), dense[key])


def _lexical_leg(
    candidates: _Candidates,
    scope: QuerySet[Document],
    lexical_evidence: evidence.LexicalEvidence,
    depth: int,
    allowed: set[int] | None,
) -> None:
    """Pages best by BM25; a dense candidate that also holds query terms counts for both legs."""
    for ref in evidence.page_refs(scope, lexical_evidence.best_pages(depth, allowed)).values():
        candidates.add(ref, "lexical")
    for page_id in candidates.pages:
        if lexical_evidence.page_scores.get(page_id, 0.0) > 0 and "lexical" not in candidates.legs[page_id]:
            candidates.legs[page_id].append("lexical")


def _similarities_of_lexical_pages(
    candidates: _Candidates, scope: QuerySet[Document], query_vector: list[float], versions: bool
) -> None:
    """Pages only the lexical leg found: their best chunk's exact similarity to the query."""
    unreached = [ref.id for ref in candidates.pages.values() if ref.id not in candidates.similarity]
    if not unreached:
        return
    keys = evidence.chunk_keys_of_pages(unreached, scope)
    _fill_similarities(candidates, [key for page in keys.values() for key in page], query_vector, versions)
    for page_id, page_keys in keys.items():
        known = [candidates.chunk_similarity[key] for key in page_keys if key in candidates.chunk_similarity]
        if known:
            candidates.similarity[page_id] = max(known)


def _page_scores(
    candidates: _Candidates, method: Method, lexical_evidence: evidence.LexicalEvidence | None
) -> dict[int, float]:
    """Each candidate page's score: its similarity (dense), else the z-score fusion of page BM25,
    document BM25 and (hybrid) similarity."""
    ids = list(candidates.pages)
    if method is Method.DENSE:
        return {page_id: candidates.similarity.get(page_id, -1.0) for page_id in ids}
    assert lexical_evidence is not None
    document_of = {page_id: candidates.pages[page_id].document_id for page_id in ids}
    legs = [
        lexical_evidence.page_scores,
        {page_id: lexical_evidence.document_scores.get(document_of[page_id], 0.0) for page_id in ids},
    ]
    if method is Method.HYBRID:
        legs.insert(0, candidates.similarity)
    return ranking.fuse(legs, ids)


def _hits(
    shown: Sequence[evidence.PageRef],
    scope: QuerySet[Document],
    scores: dict[int, float],
    candidates: _Candidates,
    method: Method,
    lexical_evidence: evidence.LexicalEvidence | None,
    query_vector: list[float] | None,
    versions: bool,
) -> list[SearchHit]:
    """One hit per shown page: the chunk with the most support for the question, with its scores."""
    texts = evidence.passages_of_pages([ref.id for ref in shown], scope)
    passages = {ref.id: _passage(texts[ref.id], method, candidates, lexical_evidence) for ref in shown if texts[ref.id]}
    if query_vector is not None:
        chosen = [(c.document_id, c.ordinal) for c in passages.values()]
        _fill_similarities(candidates, chosen, query_vector, versions)
    rows = evidence.chunk_rows([p.id for p in passages.values()], scope)
    hits = []
    for ref in shown:
        if ref.id not in passages or passages[ref.id].id not in rows:
            continue  # its document left the scope meanwhile
        chunk = rows[passages[ref.id].id]
        share = lexical_evidence.page_coverage(ref.id) if lexical_evidence is not None else None
        hits.append(
            SearchHit(
                chunk=chunk,
                score=scores[ref.id],
                similarity=candidates.chunk_similarity.get((chunk.document_id, chunk.ordinal)),
                legs=tuple(candidates.legs[ref.id]),
                coverage=share,
                support=ranking.support(candidates.similarity.get(ref.id), share)
                if method is not Method.DENSE
                else None,
                terms=lexical_evidence.weighted_terms if lexical_evidence is not None else (),
            )
        )
    return hits


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
    """The best passages for `query` that the user may read, within the filters: one per page,
    pages best first. (`collection_ids` and `include_old_versions` are shorthands for the same filters.)"""
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
    scope_sql = _scope_sql(scope)
    if scope_sql is None:
        return []
    depth = max(settings.SEARCH_CANDIDATES, 4 * k)
    parsed = lexical.parse_query(query)
    allowed = lexical.pages_containing_all(parsed.required, scope_sql) if parsed.required else None
    candidates = _Candidates()
    versions = filters.include_old_versions

    # The two legs at once: the encoder and Chroma in a worker thread, the database here.
    nearest: Future[tuple[list[float], dict[tuple[int, int], float]]] | None = None
    if method is not Method.LEXICAL:
        nearest = _start_dense_leg(query, _dense_scope(scope, filters), depth)
    lexical_evidence: evidence.LexicalEvidence | None = None
    if method is not Method.DENSE:
        lexical_evidence = evidence.LexicalEvidence.gather(parsed, scope_sql)
    query_vector: list[float] | None = None
    if nearest is not None:
        query_vector, dense = nearest.result()
        _dense_leg(candidates, scope, dense, allowed, method)
    if lexical_evidence is not None:
        _lexical_leg(candidates, scope, lexical_evidence, depth, allowed)
    if not candidates.pages:
        return []
    if query_vector is not None and method is Method.HYBRID:
        _similarities_of_lexical_pages(candidates, scope, query_vector, versions)
    scores = _page_scores(candidates, method, lexical_evidence)
    ranked = sorted(candidates.pages.values(), key=lambda ref: (-scores[ref.id], ref.document_id, ref.ordinal))
    shown = diversify(ranked, k, settings.SEARCH_MAX_PER_DOCUMENT)
    hits = _hits(shown, scope, scores, candidates, method, lexical_evidence, query_vector, versions)
    if method is Method.HYBRID:
        hits = _rerank(query, hits)
    return hits
