"""Passage search: vector candidates from Chroma, resolved and re-checked against the database.

The user's readable collections decide which Chroma collections are queried at all; every hit is
then re-checked on its database row (collection still readable, document ready) before it is
returned, so a stale vector or a document deleted a moment ago never surfaces.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from docanalyst.backends.embedder import get_embedder
from docanalyst.backends.vectorstore import get_vector_store
from ingest.models import Chunk, Document
from ingest.selectors import User, collection_ids_readable_by

MAX_K = 50


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float

    @property
    def document(self) -> Document:
        return self.chunk.document

    @property
    def page(self) -> int | None:
        return self.chunk.page_number


def _parse_vector_id(vector_id: str) -> tuple[int, int] | None:
    document_id, _, ordinal = vector_id.partition(":")
    if not (document_id.isdigit() and ordinal.isdigit()):
        return None
    return int(document_id), int(ordinal)


def chunks_search(
    *,
    user: User,
    query: str,
    collection_ids: list[int] | None = None,
    k: int | None = None,
    include_old_versions: bool = False,
) -> list[SearchHit]:
    """The best passages for `query` in the collections the user may read; superseded versions of
    documents only when asked."""
    query = query.strip()
    k = max(1, min(k or settings.SEARCH_DEFAULT_K, MAX_K))
    permitted = collection_ids_readable_by(user, collection_ids)
    if not query or not permitted:
        return []

    embedding = get_embedder().encode([query])[0]
    vector_hits = get_vector_store().query(permitted, embedding, k + 10, include_versions=include_old_versions)
    keys = {key: hit.score for hit in vector_hits if (key := _parse_vector_id(hit.id)) is not None}
    if not keys:
        return []

    match = Q()
    for document_id, ordinal in keys:
        match |= Q(document_id=document_id, ordinal=ordinal)
    chunks = Chunk.objects.filter(match).filter(
        document__collection_id__in=permitted, document__status=Document.Status.READY
    )
    if not include_old_versions:
        chunks = chunks.filter(document__is_latest=True)
    chunks = chunks.select_related("document", "document__collection")

    hits = [SearchHit(chunk=c, score=keys[(c.document_id, c.ordinal)]) for c in chunks]
    hits.sort(key=lambda hit: hit.score, reverse=True)
    return hits[:k]
