"""Writes on the ingestion side: uploads, stage transitions, failures, deletes.

State only moves forward through conditional updates (`filter(pk=…, status=X).update(…)`), so a
duplicate or redelivered task finds nothing to claim and does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import magic
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import get_valid_filename

from ingest.models import Chunk, Collection, Document
from ingest.pipeline import PermanentIngestError

logger = logging.getLogger(__name__)

DEFAULT_COLLECTION_NAME = "Default"
Status = Document.Status


# --- collections ---------------------------------------------------------------------------------


def collection_get_or_create(*, name: str, user: User | AnonymousUser | None = None) -> Collection:
    name = name.strip()
    if not name:
        raise ValidationError("A collection needs a name.")
    creator = user if isinstance(user, User) else None
    collection, _ = Collection.objects.get_or_create(name=name, defaults={"created_by": creator})
    return collection


def collection_default() -> Collection:
    return collection_get_or_create(name=DEFAULT_COLLECTION_NAME)


# --- uploads -------------------------------------------------------------------------------------


def _title_from_name(name: str) -> str:
    stem = Path(name).stem.replace("_", " ").strip()
    return stem or name or "Untitled"


def document_create(
    *, collection: Collection, uploaded_file: UploadedFile, user: User | AnonymousUser | None
) -> Document:
    """Store the original, record the document and queue it for parsing once committed."""
    if uploaded_file.size is not None and uploaded_file.size > settings.UPLOAD_MAX_BYTES:
        raise ValidationError(
            f"{uploaded_file.name} is {uploaded_file.size} bytes; the limit is {settings.UPLOAD_MAX_BYTES} bytes."
        )
    digest = hashlib.sha256()
    head = b""
    for block in uploaded_file.chunks():
        if not head:
            head = block[:8192]
        digest.update(block)
    uploaded_file.seek(0)
    sha256 = digest.hexdigest()
    original_name = Path(uploaded_file.name or "upload").name
    safe_name = get_valid_filename(original_name) or "upload"
    stored_name = default_storage.save(f"originals/{sha256[:2]}/{sha256}/{safe_name}", File(uploaded_file))
    mime_type = magic.from_buffer(head, mime=True) if head else "inode/x-empty"

    document = Document.objects.create(
        collection=collection,
        title=_title_from_name(original_name),
        original_name=original_name,
        file=stored_name,
        sha256=sha256,
        mime_type=mime_type,
        size_bytes=uploaded_file.size or 0,
        uploaded_by=user if isinstance(user, User) else None,
    )
    document_enqueue(document.pk)
    logger.info("document %s queued: %s (%s bytes)", document.pk, original_name, document.size_bytes)
    return document


def documents_create(
    *, collection: Collection, uploaded_files: Iterable[UploadedFile], user: User | AnonymousUser | None
) -> list[Document]:
    files = list(uploaded_files)
    if not files:
        raise ValidationError("Choose at least one file to upload.")
    with transaction.atomic():
        return [document_create(collection=collection, uploaded_file=f, user=user) for f in files]


def document_enqueue(document_id: int) -> None:
    from ingest.tasks import parse_document

    transaction.on_commit(lambda: parse_document.delay(document_id))


# --- stage transitions ---------------------------------------------------------------------------


def _update(document_id: int, statuses: Sequence[str] | None = None, **fields: Any) -> bool:
    rows = Document.objects.filter(pk=document_id)
    if statuses is not None:
        rows = rows.filter(status__in=statuses)
    return rows.update(updated_at=timezone.now(), **fields) > 0


def document_claim(
    document_id: int, *, from_statuses: Sequence[str], status: str, stage: str, progress: int
) -> Document | None:
    """Claim a document for a stage; None when another task already moved it on."""
    if not _update(
        document_id, from_statuses, status=status, stage=stage, progress=progress, attempts=F("attempts") + 1
    ):
        return None
    document = Document.objects.get(pk=document_id)
    if document.attempts > settings.INGEST_MAX_ATTEMPTS:
        document_mark_failed(
            document_id,
            f"Processing was interrupted {document.attempts - 1} times at the {stage} stage "
            "(the worker crashed or was killed on this file); giving up.",
        )
        return None
    return document


def document_set_progress(document_id: int, *, status: str, progress: int) -> None:
    _update(document_id, [status], progress=max(0, min(100, progress)))


def document_store_chunks(document_id: int, *, drafts: Sequence[Any], mime_type: str, page_count: int | None) -> bool:
    """Replace the document's chunks in one transaction and hand it to the embedding stage."""
    with transaction.atomic():
        Chunk.objects.filter(document_id=document_id).delete()
        Chunk.objects.bulk_create(
            Chunk(
                document_id=document_id,
                ordinal=ordinal,
                text=draft.text,
                page_number=draft.page_number,
                section=draft.section,
                element_types=draft.element_types,
                token_count=draft.token_count,
            )
            for ordinal, draft in enumerate(drafts)
        )
        return _update(
            document_id,
            [Status.PARSING],
            status=Status.EMBEDDING,
            stage="embed",
            progress=50,
            attempts=0,
            mime_type=mime_type,
            page_count=page_count,
            chunk_count=len(drafts),
        )


def document_mark_ready(document_id: int) -> bool:
    return _update(
        document_id,
        [Status.EMBEDDING],
        status=Status.READY,
        stage="ready",
        progress=100,
        error="",
        ready_at=timezone.now(),
    )


def document_mark_failed(document_id: int, reason: str) -> None:
    """Record a permanent failure. A document that already reached `ready` stays ready."""
    stage = Document.objects.filter(pk=document_id).values_list("stage", flat=True).first()
    _update(
        document_id,
        [Status.QUEUED, Status.PARSING, Status.EMBEDDING],
        status=Status.FAILED,
        stage=f"failed during {stage}" if stage and not stage.startswith("failed") else (stage or "failed"),
        error=reason[:4000],
    )
    logger.warning("document %s failed: %s", document_id, reason)


# --- the stages, as run by the workers ------------------------------------------------------------


def document_parse(document_id: int) -> None:
    """Parse and chunk a queued document; hand it to the embedding queue."""
    from docanalyst.backends.embedder import get_tokenizer
    from ingest.pipeline.chunk import chunk
    from ingest.pipeline.parse import parse

    document = document_claim(
        document_id, from_statuses=[Status.QUEUED, Status.PARSING], status=Status.PARSING, stage="parse", progress=5
    )
    if document is None:
        return
    started = time.monotonic()
    parsed = parse(Path(document.file.path))
    document_set_progress(document_id, status=Status.PARSING, progress=35)
    drafts = chunk(parsed.elements, get_tokenizer(), settings.CHUNK_TARGET_TOKENS)
    if not document_store_chunks(document_id, drafts=drafts, mime_type=parsed.mime_type, page_count=parsed.page_count):
        return
    logger.info(
        "document %s parsed: %d elements, %s pages, %d chunks in %.2fs",
        document_id,
        len(parsed.elements),
        parsed.page_count,
        len(drafts),
        time.monotonic() - started,
    )
    from ingest.tasks import embed_document

    embed_document.delay(document_id)


def document_embed(document_id: int) -> None:
    """Embed the stored chunks and index them; the document becomes ready."""
    from ingest.pipeline.index import embed_chunks, index_chunks

    document = document_claim(
        document_id, from_statuses=[Status.EMBEDDING], status=Status.EMBEDDING, stage="embed", progress=50
    )
    if document is None:
        return
    started = time.monotonic()
    chunks = list(document.chunks.order_by("ordinal"))
    if not chunks:
        raise PermanentIngestError("The document produced no text chunks.")

    def report(done: int, total: int) -> None:
        document_set_progress(document_id, status=Status.EMBEDDING, progress=50 + int(40 * done / total))

    vectors = embed_chunks(chunks, on_progress=report)
    document.refresh_from_db(fields=["collection"])
    index_chunks(document, chunks, vectors)
    if not document_mark_ready(document_id) and not Document.objects.filter(pk=document_id).exists():
        # Deleted while we were embedding: leave no orphan vectors behind.
        from docanalyst.backends.vectorstore import get_vector_store

        get_vector_store().delete_document(document.collection_id, document_id)
        return
    logger.info(
        "document %s embedded and indexed: %d chunks in %.2fs", document_id, len(chunks), time.monotonic() - started
    )


def document_delete(document: Document) -> None:
    """Remove a document, its chunks, its vectors and its stored original in one step."""
    from docanalyst.backends.vectorstore import get_vector_store

    get_vector_store().delete_document(document.collection_id, document.pk)
    name = document.file.name
    sha256 = document.sha256
    document.delete()
    if name and not Document.objects.filter(sha256=sha256, file=name).exists():
        default_storage.delete(name)


def documents_requeue_stalled() -> int:
    """Queue again every document whose row has not moved for INGEST_STALL_SECONDS.

    Covers messages lost with a broker that kept nothing on disk and workers killed outright;
    a document that keeps stalling is failed by `document_claim`'s attempt cap."""
    from ingest.tasks import embed_document, parse_document

    cutoff = timezone.now() - dt.timedelta(seconds=settings.INGEST_STALL_SECONDS)
    stalled = Document.objects.filter(status__in=Document.ACTIVE_STATUSES, updated_at__lt=cutoff)
    count = 0
    for document_id, status in stalled.values_list("pk", "status"):
        if status == Status.EMBEDDING:
            moved = _update(document_id, [Status.EMBEDDING], stage="embed (requeued)")
            task = embed_document
        else:
            moved = _update(document_id, [status], status=Status.QUEUED, stage="queued (requeued)", progress=0)
            task = parse_document
        if moved:
            task.delay(document_id)
            count += 1
            logger.warning("document %s was stalled in %s; queued again", document_id, status)
    return count


def permanent_error_reason(exc: BaseException) -> str:
    if isinstance(exc, PermanentIngestError):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}): {exc}"
