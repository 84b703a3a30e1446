"""Writes on the ingestion side: stage transitions, failures, versions, retries, deletes.

State only moves forward through conditional updates (`filter(pk=…, status=X).update(…)`), so a
duplicate or redelivered task finds nothing to claim and does nothing. While a stage runs, a
heartbeat keeps the row's `updated_at` fresh; a row in a working state whose heartbeat stopped
belongs to a dead worker and may be claimed again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from backends.vectorstore import get_vector_store
from docanalyst import dispatch
from docanalyst.celery import app
from ingest.models import BatchMember, Chunk, Collection, Document, Page
from ingest.pipeline import PermanentIngestError
from ingest.pipeline.chunk import pages

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


def document_enqueue(document_id: int) -> None:
    """Queue the document's parsing once its row is committed; while the broker is down it stays
    queued, "waiting for the queue", and the sweep queues it when the broker answers again."""
    dispatch.parse_document(
        document_id, on_unavailable=lambda: _update(document_id, [Status.QUEUED], stage=dispatch.WAITING_FOR_QUEUE)
    )


# --- stage transitions ---------------------------------------------------------------------------


def _update(document_id: int, statuses: Sequence[str] | None = None, **fields: Any) -> bool:
    rows = Document.objects.filter(pk=document_id)
    if statuses is not None:
        rows = rows.filter(status__in=statuses)
    return rows.update(updated_at=timezone.now(), **fields) > 0


def _stale_before() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.INGEST_STALL_SECONDS)


EMBED_QUEUED = "embed queued"


def document_claim(document_id: int, *, waiting: Q, status: str, stage: str, progress: int) -> Document | None:
    """Claim a document for a stage; None when it is not ours to work on.

    A document `waiting` for the stage is claimed; one already in the stage's working `status` is
    claimed only when its heartbeat has stopped (its worker died) or the sweeper requeued it."""
    abandoned = Q(status=status) & (Q(updated_at__lt=_stale_before()) | Q(stage__endswith="(requeued)"))
    claimed = Document.objects.filter(Q(pk=document_id) & (waiting | abandoned)).update(
        status=status, stage=stage, progress=progress, attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    if not claimed:
        return None
    document = Document.objects.select_related("collection", "batch").get(pk=document_id)
    if document.attempts > settings.INGEST_MAX_ATTEMPTS:
        document_mark_failed(
            document_id,
            f"Processing was interrupted {document.attempts - 1} times at the {stage} stage "
            "(the worker crashed or was killed on this file); giving up.",
        )
        return None
    return document


@contextlib.contextmanager
def heartbeat(document_id: int, status: str) -> Iterator[None]:
    """Keep the row's `updated_at` fresh while a long stage runs, so that only a dead worker's
    document looks abandoned."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(settings.INGEST_HEARTBEAT_SECONDS):
            try:
                Document.objects.filter(pk=document_id, status=status).update(updated_at=timezone.now())
            except Exception:
                logger.warning("heartbeat for document %s failed", document_id, exc_info=True)
            finally:
                close_old_connections()

    thread = threading.Thread(target=beat, name=f"heartbeat-{document_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def document_set_progress(document_id: int, *, status: str, progress: int) -> None:
    _update(document_id, [status], progress=max(0, min(100, progress)))


def document_store_chunks(document_id: int, *, drafts: Sequence[Any], parsed: Any) -> bool:
    """Replace the document's pages and chunks in one transaction and hand it to the embedding stage."""
    title = Document.objects.filter(pk=document_id).values_list("title", flat=True).first() or ""
    with transaction.atomic():
        Chunk.objects.filter(document_id=document_id).delete()
        page_of = _replace_pages(document_id, drafts)
        Chunk.objects.bulk_create(
            Chunk(
                document_id=document_id,
                ordinal=ordinal,
                text=draft.text,
                page_number=draft.page_number,
                section=draft.section,
                context=Chunk.context_for(title, draft.section),
                element_types=draft.element_types,
                token_count=draft.token_count,
                page_id=page_of[ordinal],
            )
            for ordinal, draft in enumerate(drafts)
        )
        return _update(
            document_id,
            [Status.PARSING],
            status=Status.EMBEDDING,
            stage=EMBED_QUEUED,
            progress=50,
            attempts=0,
            mime_type=parsed.mime_type,
            page_count=parsed.page_count,
            chunk_count=len(drafts),
            metadata={**parsed.metadata, **({"ocr_pages": parsed.ocr_pages} if parsed.ocr_pages else {})},
        )


def _replace_pages(document_id: int, chunks: Sequence[Any]) -> dict[int, int]:
    """The document's pages written anew from its chunks (in ordinal order); returns each chunk
    ordinal's page id."""

    Page.objects.filter(document_id=document_id).delete()
    drafts = pages(chunks)
    rows = Page.objects.bulk_create(
        Page(document_id=document_id, number=p.number, ordinal=p.ordinal, text=p.text, words=p.words) for p in drafts
    )
    return {ordinal: row.pk for draft, row in zip(drafts, rows, strict=True) for ordinal in draft.ordinals}


def document_pages_rebuild(document_id: int) -> int:
    """Write the document's pages again from its stored chunks (the chunk stage writes both; this
    is for chunks stored some other way). Returns how many pages it has."""
    with transaction.atomic():
        chunks = list(Chunk.objects.filter(document_id=document_id).order_by("ordinal"))
        Chunk.objects.filter(document_id=document_id).update(page=None)
        page_of = _replace_pages(document_id, chunks)
        for chunk in chunks:
            chunk.page_id = page_of[chunk.ordinal]
        Chunk.objects.bulk_update(chunks, ["page"], batch_size=500)
    return len(set(page_of.values()))


def document_mark_failed(document_id: int, reason: str) -> None:
    """Record a permanent failure. A document that already reached `ready` stays ready."""
    stage = Document.objects.filter(pk=document_id).values_list("stage", flat=True).first()
    _update(
        document_id,
        Document.ACTIVE_STATUSES,
        status=Status.FAILED,
        stage=f"failed during {stage}" if stage and not stage.startswith("failed") else (stage or "failed"),
        error=reason[:4000],
    )
    logger.warning("document %s failed: %s", document_id, reason)


def document_retry(document: Document) -> bool:
    """Queue a failed or cancelled document again from the start."""
    if not _update(
        document.pk,
        [Status.FAILED, Status.CANCELLED],
        status=Status.QUEUED,
        stage="queued (retry)",
        progress=0,
        error="",
        attempts=0,
    ):
        return False
    document_enqueue(document.pk)
    return True


# --- versions ------------------------------------------------------------------------------------


def document_mark_ready(document: Document) -> bool:
    """Ready, and the latest version of its path unless a newer version is already ready.
    Superseded versions stay viewable; their vectors move out of the default search."""
    with transaction.atomic():
        siblings = Document.objects.select_for_update().filter(collection_id=document.collection_id, path=document.path)
        current = siblings.filter(is_latest=True).exclude(pk=document.pk).first()
        promote = document.is_latest or current is None or current.version < document.version
        if not _update(
            document.pk,
            [Status.EMBEDDING],
            status=Status.READY,
            stage="ready",
            progress=100,
            error="",
            ready_at=timezone.now(),
        ):
            return False
        if promote:
            if current is not None:
                Document.objects.filter(pk=current.pk).update(is_latest=False)
            Document.objects.filter(pk=document.pk).update(is_latest=True)
    store = get_vector_store()
    if promote and current is not None and current.status == Status.READY:
        store.archive_document(current.collection_id, current.pk)
    elif not promote:
        store.archive_document(document.collection_id, document.pk)
    return True


def document_delete(document: Document) -> None:
    """Remove a document (and its attachments), their chunks, vectors and stored originals."""
    store = get_vector_store()
    family = [document, *Document.objects.filter(parent=document)]
    names = [(d.file.name, d.sha256) for d in family]
    for member in family:
        store.delete_document(member.collection_id, member.pk)
    with transaction.atomic():
        if document.is_latest and document.previous_version_id:
            previous = Document.objects.filter(pk=document.previous_version_id, status=Status.READY).first()
        else:
            previous = None
        document.delete()
        if previous is not None:  # the version before becomes the latest again
            Document.objects.filter(pk=previous.pk).update(is_latest=True)
    if previous is not None:
        store.restore_document(previous.collection_id, previous.pk)
    for name, sha256 in names:
        if name and not Document.objects.filter(sha256=sha256, file=name).exists():
            default_storage.delete(name)


def _queue_is_empty(queue: str) -> bool:
    with app.connection_for_read() as connection:
        try:
            return int(connection.default_channel.queue_declare(queue=queue, passive=True).message_count) == 0
        except connection.channel_errors:  # the broker does not know the queue (e.g. restarted): empty
            return True


def documents_requeue_stalled() -> int:
    """Queue again everything that stopped moving: a document in a working stage whose heartbeat
    stopped (its worker died), and documents or archives waiting for long while their queue is
    empty (their message was lost, e.g. with a broker that keeps nothing on disk). The attempt cap
    in `document_claim` fails a document that keeps killing its worker."""
    stale = _stale_before()
    count = 0
    # Queued while the broker was down: it answers now (this sweep came through it).
    for document_id in Document.objects.filter(status=Status.QUEUED, stage=dispatch.WAITING_FOR_QUEUE).values_list(
        "pk", flat=True
    ):
        if _update(document_id, [Status.QUEUED], stage="queued"):
            dispatch.parse_document(document_id)
            count += 1
    working = Document.objects.filter(updated_at__lt=stale).filter(
        Q(status=Status.PARSING) | (Q(status=Status.EMBEDDING) & ~Q(stage=EMBED_QUEUED))
    )
    for document_id, status in working.values_list("pk", "status"):
        stage = "embed (requeued)" if status == Status.EMBEDDING else "parse (requeued)"
        if _update(document_id, [status], stage=stage):
            (dispatch.embed_document if status == Status.EMBEDDING else dispatch.parse_document)(document_id)
            count += 1
            logger.warning("document %s stopped moving in %s; queued again", document_id, status)

    waiting_parse = Document.objects.filter(status=Status.QUEUED, updated_at__lt=stale)
    waiting_embed = Document.objects.filter(status=Status.EMBEDDING, stage=EMBED_QUEUED, updated_at__lt=stale)
    archives = BatchMember.objects.filter(outcome=BatchMember.Outcome.QUEUED, created_at__lt=stale)
    lost: list[tuple[Callable[[int], None], int]] = []
    if (waiting_parse.exists() or archives.exists()) and _queue_is_empty("parse"):
        lost += [(dispatch.parse_document, pk) for pk in waiting_parse.values_list("pk", flat=True)]
        lost += [(dispatch.unpack_archive, pk) for pk in archives.values_list("pk", flat=True)]
    if waiting_embed.exists() and _queue_is_empty("embed"):
        lost += [(dispatch.embed_document, pk) for pk in waiting_embed.values_list("pk", flat=True)]
    for queue, pk in lost:
        if queue is not dispatch.unpack_archive:
            Document.objects.filter(pk=pk).update(updated_at=timezone.now())
        queue(pk)
        count += 1
    if lost:
        logger.warning("%d waiting documents or archives had no message in the broker; queued again", len(lost))
    return count


def permanent_error_reason(exc: BaseException) -> str:
    if isinstance(exc, PermanentIngestError):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}): {exc}"
