"""The worker's stages of one document: parse and chunk (with its e-mail attachments registered
as documents of their own), then embed and index. Each claims the document with a conditional
update (`services.document_claim`), so a duplicate or redelivered message does nothing, and hands
the document on with `docanalyst.dispatch`.

The parsers and the embedder are imported inside the stages: they load `unstructured`, spaCy and
torch, which the web processes that import this package must never pay for."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q

from backends.embedder import get_tokenizer  # tokenizers
from backends.vectorstore import get_vector_store
from docanalyst import dispatch
from ingest.models import Batch, Document
from ingest.pipeline import PermanentIngestError
from ingest.pipeline.chunk import chunk
from ingest.services import (
    EMBED_QUEUED,
    document_claim,
    document_mark_ready,
    document_set_progress,
    document_store_chunks,
    heartbeat,
)
from ingest.uploads import document_register

logger = logging.getLogger(__name__)
Status = Document.Status


def _register_attachments(document: Document, attachments: Sequence[Any]) -> None:
    """Each e-mail attachment becomes a child document, in the e-mail's batch and folder."""
    if not attachments:
        return
    batch = document.batch or Batch.objects.create(
        collection=document.collection, name=document.path, uploaded_by=document.uploaded_by
    )
    known = set(document.children.values_list("original_name", flat=True))
    for attachment in attachments:
        if attachment.name in known:
            continue  # a re-run of this stage: registered the first time
        with attachment.path.open("rb") as handle:
            document_register(
                batch=batch,
                source=handle,
                path=f"{document.path}/{attachment.name}",
                user=document.uploaded_by,
                parent=document,
            )
        attachment.path.unlink(missing_ok=True)


def document_parse(document_id: int) -> None:
    """Parse and chunk a queued document; hand it to the embedding queue."""
    from ingest.pipeline.parse import parse  # unstructured, spaCy

    document = document_claim(
        document_id, waiting=Q(status=Status.QUEUED), status=Status.PARSING, stage="parse", progress=5
    )
    if document is None:
        return
    started = time.monotonic()
    workdir = Path(settings.MEDIA_ROOT) / "work" / str(document_id)
    with heartbeat(document_id, Status.PARSING):
        parsed = parse(Path(document.file.path), document.original_name, workdir)
        document_set_progress(document_id, status=Status.PARSING, progress=35)
        drafts = chunk(parsed.elements, get_tokenizer(), settings.CHUNK_TARGET_TOKENS, title=document.title)
    _register_attachments(document, parsed.attachments)
    if not drafts:
        raise PermanentIngestError("The file has no text of its own (its attachments are ingested separately).")
    if not document_store_chunks(document_id, drafts=drafts, parsed=parsed):
        return
    readers = parsed.metadata.get("pages_read_by", {})
    logger.info(
        "document %s parsed: %d elements, %s pages (%d by OCR), %d chunks, %d attachments in %.2fs%s",
        document_id,
        len(parsed.elements),
        parsed.page_count,
        len(parsed.ocr_pages),
        len(drafts),
        len(parsed.attachments),
        time.monotonic() - started,
        "".join(f"; {r} read {readers[r]} in {s:.2f}s" for r, s in parsed.reader_seconds.items() if r in readers),
    )
    dispatch.embed_document(document_id)


def _fair_share() -> int:
    """CPU threads for this embedding: the cores divided among the stages running right now, so
    that two busy worker processes do not oversubscribe the cores and a lone one uses them all."""
    busy = Document.objects.filter(Q(status=Status.PARSING) | Q(status=Status.EMBEDDING, stage="embed")).count()
    return max(1, (os.cpu_count() or 1) // max(1, busy))


def document_embed(document_id: int) -> None:
    """Embed the stored chunks and index them; the document becomes ready."""
    from ingest.pipeline.index import embed_chunks, index_chunks  # the embedder: torch

    document = document_claim(
        document_id,
        waiting=Q(status=Status.EMBEDDING, stage=EMBED_QUEUED),
        status=Status.EMBEDDING,
        stage="embed",
        progress=50,
    )
    if document is None:
        return
    started = time.monotonic()
    chunks = list(document.chunks.order_by("ordinal"))
    if not chunks:
        raise PermanentIngestError("The document produced no text chunks.")

    def report(done: int, total: int) -> None:
        document_set_progress(document_id, status=Status.EMBEDDING, progress=50 + int(45 * done / total))

    with heartbeat(document_id, Status.EMBEDDING):
        vectors = embed_chunks(chunks, on_progress=report, threads=None if settings.EMBEDDING_THREADS else _fair_share)
        embedded = time.monotonic()
        index_chunks(document, chunks, vectors)
    if not document_mark_ready(document):
        current = Document.objects.filter(pk=document_id).values_list("status", flat=True).first()
        if current in (None, Status.CANCELLED, Status.FAILED):
            # Deleted or cancelled while we were embedding: leave no orphan vectors behind.
            get_vector_store().delete_document(document.collection_id, document_id)
        return
    logger.info(
        "document %s embedded and indexed: %d chunks in %.2fs (embed %.2fs, index %.2fs)",
        document_id,
        len(chunks),
        time.monotonic() - started,
        embedded - started,
        time.monotonic() - embedded,
    )
