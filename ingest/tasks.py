"""Celery tasks: thin adapters that take a document id and call one service.

Transient failures (database locked, broker or Chroma unreachable) retry with backoff and jitter;
everything else is a property of the file and is recorded on the document row as `failed`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings

from backends.embedder import get_embedder, get_tokenizer  # torch, only in worker processes
from docanalyst import dispatch
from docanalyst.dependencies import TRANSIENT_ERRORS
from ingest import services, stages, uploads

logger = logging.getLogger(__name__)


class DocumentTask(Task):
    """Marks the document failed when the task gives up, whatever the reason."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 5
    retry_backoff_max = 120
    retry_jitter = True
    max_retries = 5

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        document_id = args[0] if args else kwargs.get("document_id")
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"Stopped after {settings.CELERY_TASK_SOFT_TIME_LIMIT} s: the file took too long to process."
        elif isinstance(exc, TRANSIENT_ERRORS):
            reason = f"A service stayed unavailable after {self.max_retries} retries ({type(exc).__name__}: {exc})."
        else:
            reason = services.permanent_error_reason(exc)
        if document_id is not None:
            services.document_mark_failed(int(document_id), reason)


@shared_task(base=DocumentTask, name=dispatch.PARSE_DOCUMENT)
def parse_document(document_id: int) -> None:
    stages.document_parse(document_id)


@shared_task(base=DocumentTask, name=dispatch.EMBED_DOCUMENT)
def embed_document(document_id: int) -> None:
    stages.document_embed(document_id)


class ArchiveTask(DocumentTask):
    """An archive that cannot be unpacked fails its batch with the reason, whatever it was."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        member_id = args[0] if args else kwargs.get("member_id")
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"Unpacking stopped after {settings.CELERY_TASK_SOFT_TIME_LIMIT} s."
        else:
            reason = f"The archive could not be unpacked ({type(exc).__name__}: {exc})."
        if member_id is not None:
            uploads.archive_mark_failed(int(member_id), reason)


@shared_task(base=ArchiveTask, name=dispatch.UNPACK_ARCHIVE)
def unpack_archive(member_id: int) -> None:
    uploads.archive_unpack(member_id)


@shared_task(name=dispatch.REQUEUE_STALLED_DOCUMENTS, acks_late=True)
def requeue_stalled_documents() -> int:
    return services.documents_requeue_stalled()


@worker_process_init.connect
def warm_up_worker_process(**_: Any) -> None:
    """Load the models and parsers when a worker process starts, not inside the first document:
    a worker is long-lived, and the first document of a batch should cost what the others do."""
    if not settings.WORKER_PRELOAD:
        return
    started = time.monotonic()
    from ingest.pipeline.parse import warm_up  # unstructured, spaCy

    warm_up()
    get_tokenizer()
    get_embedder().encode(["warm-up"])
    logger.info("worker process ready: models and parsers loaded in %.1fs", time.monotonic() - started)
