"""Celery tasks for compliance work: thin adapters that take a record id and call one service.

They run on the `analysis` queue, so a long summary never waits behind a batch of parsing (and
can be given its own workers). The language model (or the database) being down is transient: the
record goes back to `queued` with the reason on its row and is retried after WORK_RETRY_DELAYS,
then fails with the service's message. Anything else fails the record at once, with its reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from docanalyst.backends.llm import LLMUnavailable
from docanalyst.models import Comparison, ExtractionRun, Summary, WorkRecord, WorkStatus
from docanalyst.services import work
from ingest.tasks import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)


RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, LLMUnavailable)


class WorkTask(Task):  # type: ignore[misc]
    """Marks the record failed when the task gives up, whatever the reason. Retries of a service
    that is down (the model, the database) are not attempts: the attempt cap counts the times a
    worker was lost with the record in hand."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = len(settings.WORK_RETRY_DELAYS)
    retry_delays = settings.WORK_RETRY_DELAYS  # seconds; after the last, the record fails with the message
    soft_time_limit = settings.WORK_SOFT_TIME_LIMIT
    time_limit = settings.WORK_TIME_LIMIT
    record_model: type[WorkRecord] = Summary

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        record_id = args[0] if args else kwargs.get("record_id")
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"Stopped after {settings.WORK_SOFT_TIME_LIMIT} s (WORK_SOFT_TIME_LIMIT)."
        elif isinstance(exc, (LLMUnavailable, work.WorkNotPossible)):
            reason = str(exc)
        elif isinstance(exc, TRANSIENT_ERRORS):
            reason = f"A service stayed unavailable after {self.max_retries} retries ({type(exc).__name__})."
        else:
            logger.exception("%s %s failed", self.record_model.__name__, record_id, exc_info=exc)
            reason = f"Internal error ({type(exc).__name__}); the administrators can find it in the worker log."
        if record_id is not None:
            work.work_fail(self.record_model, int(record_id), reason)


def _run(task: WorkTask, record_id: int, build: Callable[[Any, work.Progress], None]) -> None:
    model = task.record_model
    record = work.work_claim(model, record_id, task.request.id or "")
    if record is None:
        logger.info("%s %s is finished or out of attempts; nothing to do", model.__name__, record_id)
        return
    try:
        build(record, work.progress_reporter(record))
    except RETRYABLE as exc:
        retries = task.request.retries
        if retries >= task.max_retries:
            raise  # on_failure marks the record failed with the service's message
        delay = task.retry_delays[min(retries, len(task.retry_delays) - 1)]
        work.work_wait(model, record_id, f"{exc} Trying again in {delay} s.")
        raise task.retry(exc=exc, countdown=delay) from exc
    _audit_made(record)


def _audit_made(record: WorkRecord) -> None:
    """The finished record in the audit trail: who asked, from which versions, the result's hash."""
    from audit.services import audit_record, text_sha256

    record.refresh_from_db()
    if record.status != WorkStatus.DONE:
        return  # taken over by another delivery, which records it
    produced = json.dumps(
        {f: getattr(record, f, None) for f in ("text", "sections", "rows", "citations")}, sort_keys=True, default=str
    )
    if isinstance(record, ExtractionRun):
        produced = json.dumps(list(record.values.values("document_id", "field", "value", "page")), sort_keys=True)
    audit_record(
        action=f"{type(record).__name__.lower()}.made",
        actor=record.created_by,
        via="worker",
        target_type=type(record).__name__.lower(),
        target_id=record.pk,
        details={
            "documents": [[s["document_id"], s["version"], s["sha256"]] for s in record.sources],
            "backend": record.backend,
            "model": record.model_name,
            "prompt_version": record.prompt_version,
            "result_sha256": text_sha256(produced),
        },
    )


class SummaryTask(WorkTask):
    record_model = Summary


class ComparisonTask(WorkTask):
    record_model = Comparison


class ExtractionTask(WorkTask):
    record_model = ExtractionRun


@shared_task(base=SummaryTask, bind=True, name="docanalyst.tasks.summarize")
def summarize(self: WorkTask, record_id: int) -> None:
    from docanalyst.services.summaries import summary_build

    _run(self, record_id, summary_build)


@shared_task(base=ComparisonTask, bind=True, name="docanalyst.tasks.compare")
def compare(self: WorkTask, record_id: int) -> None:
    from docanalyst.services.comparisons import comparison_build

    _run(self, record_id, comparison_build)


@shared_task(base=ExtractionTask, bind=True, name="docanalyst.tasks.extract")
def extract(self: WorkTask, record_id: int) -> None:
    from docanalyst.services.extractions import extraction_build

    _run(self, record_id, extraction_build)


@shared_task(name="docanalyst.tasks.requeue_stalled_work")
def requeue_stalled_work() -> int:
    return work.work_requeue_stalled()
