"""Small searchable corpora for the retrieval tests, built in-process through the pipeline's own
index stage: real chunk and page rows (so the database's full-text index sees them), real embeddings from
the packaged model and a real Chroma server. The worker path is tested in tests/ingest; here the
subject is what search does with what ingestion stored."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence

from django.utils import timezone

from ingest.models import Chunk, Collection, Document
from ingest.pipeline.index import embed_chunks, index_chunks
from ingest.services import document_pages_rebuild

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def indexed_document(
    collection: Collection,
    path: str,
    passages: Sequence[str],
    *,
    mime_type: str = PDF,
    uploaded: datetime.date | None = None,
    version: int = 1,
    is_latest: bool = True,
    previous: Document | None = None,
    sections: Sequence[str] | None = None,
) -> Document:
    """A ready document whose passages are one chunk per page (under `sections[i]`, when given),
    embedded and indexed."""
    document = Document.objects.create(
        collection=collection,
        title=path.rsplit("/", 1)[-1],
        original_name=path.rsplit("/", 1)[-1],
        path=path,
        version=version,
        is_latest=is_latest,
        previous_version=previous,
        file=f"originals/{hashlib.sha256(path.encode()).hexdigest()}",
        sha256=hashlib.sha256(f"{path}:{version}".encode()).hexdigest(),
        mime_type=mime_type,
        status=Document.Status.READY,
        page_count=len(passages),
        chunk_count=len(passages),
    )
    if uploaded is not None:
        moment = timezone.make_aware(datetime.datetime.combine(uploaded, datetime.time(12)))
        Document.objects.filter(pk=document.pk).update(created_at=moment)
        document.refresh_from_db()
    chunks = Chunk.objects.bulk_create(
        Chunk(
            document=document,
            ordinal=i,
            text=text,
            page_number=i + 1,
            token_count=len(text) // 4,
            section=sections[i] if sections else "",
            context=Chunk.context_for(document.title, sections[i] if sections else ""),
        )
        for i, text in enumerate(passages)
    )
    document_pages_rebuild(document.pk)  # as the chunk stage writes them beside the chunks
    index_chunks(document, chunks, embed_chunks(chunks))
    document.refresh_from_db()
    return document
