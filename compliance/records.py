"""The life of a compliance record (summary, comparison, extraction run) in the worker.

A record is created `queued` by a service in the web request and queued with
`docanalyst.dispatch` after commit. The task claims it with a conditional update (`queued` → `running`, or a
`running` row whose worker died and whose message came back), counts the attempt, reports progress
on the row, and ends it `done` or `failed` with a reason a user can read. A record that keeps
killing its worker fails after `COMPLIANCE_MAX_ATTEMPTS`; the beat sweep requeues rows that stopped
moving (see `records_requeue_stalled`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from compliance.models import Comparison, ComplianceRecord, ExtractionRun, RecordStatus, Summary
from docanalyst import dispatch
from ingest.models import Document

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=ComplianceRecord)
Progress = Callable[[float, str], None]

COMPLIANCE_MAX_ATTEMPTS = 3


class RecordNotPossible(ValueError):
    """The request cannot be carried out as asked (a document not ready, nothing selected…);
    the message is shown to the user."""


def sources_of(documents: Iterable[Document]) -> list[dict[str, Any]]:
    """The exact document versions a record is made from, kept with it for its provenance."""
    return [
        {
            "document_id": d.pk,
            "title": d.title,
            "path": d.path,
            "version": d.version,
            "sha256": d.sha256,
            "collection": d.collection.name,
        }
        for d in documents
    ]


def documents_ready(documents: Iterable[Document]) -> list[Document]:
    documents = list(documents)
    if not documents:
        raise RecordNotPossible("No documents were selected.")
    waiting = [d.title for d in documents if d.status != Document.Status.READY]
    if waiting:
        raise RecordNotPossible(f"Not ready yet (wait for ingestion to finish or retry it): {', '.join(waiting[:5])}.")
    empty = [d.title for d in documents if d.chunk_count == 0]
    if empty:
        raise RecordNotPossible(f"No text was found in: {', '.join(empty[:5])}.")
    return documents


def record_claim(model: type[R], pk: int, task_id: str) -> R | None:
    """The record, now `running` for this delivery; None when it is finished, gone, out of
    attempts, or running under another delivery that is still alive. A `running` record is taken
    over by the same message delivered again (its worker was lost: acks_late) or, from another
    message, only once its row has stopped moving for COMPLIANCE_STALL_SECONDS (the sweep's requeue)."""
    stale = timezone.now() - timedelta(seconds=settings.COMPLIANCE_STALL_SECONDS)
    claimable = Q(status=RecordStatus.QUEUED) | Q(status=RecordStatus.RUNNING, task_id=task_id)
    claimable |= Q(status=RecordStatus.RUNNING, updated_at__lt=stale)
    claimed = model._default_manager.filter(claimable, pk=pk, attempts__lt=COMPLIANCE_MAX_ATTEMPTS).update(
        status=RecordStatus.RUNNING,
        attempts=F("attempts") + 1,
        stage="starting",
        error="",
        task_id=task_id[:64],
        updated_at=timezone.now(),
    )
    if not claimed:
        model._default_manager.filter(
            Q(status=RecordStatus.QUEUED) | Q(status=RecordStatus.RUNNING, task_id=task_id),
            pk=pk,
            attempts__gte=COMPLIANCE_MAX_ATTEMPTS,
        ).update(
            status=RecordStatus.FAILED,
            error=f"Stopped after {COMPLIANCE_MAX_ATTEMPTS} attempts: the work kept stopping its worker.",
            finished_at=timezone.now(),
        )
        return None
    return model._default_manager.get(pk=pk)


def progress_reporter(record: ComplianceRecord, every_seconds: float = 0.5) -> Progress:
    """Writes progress to the row, at most every `every_seconds` (and always the first time)."""
    last = [0.0]

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] < every_seconds and fraction < 1:
            return
        last[0] = now
        percent = max(0, min(99, int(fraction * 100)))
        type(record)._default_manager.filter(pk=record.pk, status=RecordStatus.RUNNING, task_id=record.task_id).update(
            progress=percent, stage=stage[:200], updated_at=timezone.now()
        )

    return report


def record_finish(record: ComplianceRecord, **fields: Any) -> bool:
    """Stores what was produced and marks the record done, in one conditional update: a run that
    lost its record (taken over, failed meanwhile) changes nothing. False in that case."""
    now = timezone.now()
    done = (
        type(record)
        ._default_manager.filter(pk=record.pk, status=RecordStatus.RUNNING, task_id=record.task_id)
        .update(
            **fields, status=RecordStatus.DONE, progress=100, stage="done", error="", finished_at=now, updated_at=now
        )
    )
    if not done:
        logger.warning(
            "%s %s was taken over or ended meanwhile; this run's result is dropped", type(record).__name__, record.pk
        )
        return False
    record.refresh_from_db()
    return True


def record_wait(model: type[ComplianceRecord], pk: int, reason: str) -> None:
    """Back to `queued` while a service is down: the retry claims it again, and the attempt this
    run counted is given back (it was the service, not a lost worker)."""
    model._default_manager.filter(pk=pk, status=RecordStatus.RUNNING).update(
        status=RecordStatus.QUEUED, stage=reason[:200], attempts=F("attempts") - 1, updated_at=timezone.now()
    )
    logger.warning("%s %s waits: %s", model.__name__, pk, reason)


def record_fail(model: type[ComplianceRecord], pk: int, reason: str) -> None:
    model._default_manager.filter(pk=pk).exclude(status=RecordStatus.DONE).update(
        status=RecordStatus.FAILED, error=reason, stage="failed", finished_at=timezone.now()
    )
    logger.warning("%s %s failed: %s", model.__name__, pk, reason)


def record_queue(record: ComplianceRecord) -> None:
    """Queue the task that makes the record once it is committed; while the broker is down the
    record stays queued, "waiting for the queue", and the next sweep queues it."""
    model, pk = type(record), record.pk
    dispatch.make_record(
        model._meta.label_lower,
        pk,
        on_unavailable=lambda: model._default_manager.filter(pk=pk, status=RecordStatus.QUEUED).update(
            stage=dispatch.WAITING_FOR_QUEUE
        ),
    )


def records_requeue_stalled() -> int:
    """Queue again records whose worker died (a `running` row that stopped moving) or whose message
    was lost (a `queued` row left waiting); the attempt cap ends a record that keeps failing."""
    stale = timezone.now() - timedelta(seconds=settings.COMPLIANCE_STALL_SECONDS)
    count = 0
    models: tuple[type[ComplianceRecord], ...] = (Summary, Comparison, ExtractionRun)
    for model in models:
        label = model._meta.label_lower
        waiting = model._default_manager.filter(status=RecordStatus.QUEUED, stage=dispatch.WAITING_FOR_QUEUE)
        for pk in waiting.values_list("pk", flat=True):  # queued while the broker was down; it is back
            if model._default_manager.filter(pk=pk, stage=dispatch.WAITING_FOR_QUEUE).update(stage="queued"):
                dispatch.make_record(label, pk)
                count += 1
        stalled = model._default_manager.filter(
            status__in=[RecordStatus.QUEUED, RecordStatus.RUNNING], updated_at__lt=stale
        )
        for pk in stalled.values_list("pk", flat=True):
            # Back to queued (the new message claims it; the lost run, if it ever wakes, can no longer
            # write to the row) — conditional, so two sweeps never queue it twice.
            requeued = model._default_manager.filter(
                pk=pk, status__in=[RecordStatus.QUEUED, RecordStatus.RUNNING], updated_at__lt=stale
            ).update(status=RecordStatus.QUEUED, stage="queued again: its worker stopped", updated_at=timezone.now())
            if requeued:
                dispatch.make_record(label, pk)
                count += 1
                logger.warning("%s %s stopped moving; queued again", model.__name__, pk)
    return count
