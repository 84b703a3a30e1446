"""Celery tasks for compliance work: thin adapters that take a record id and call one service.

They run on the `compliance` queue, so a long summary never waits behind a batch of parsing (and
can be given its own workers). The language model (or the database) being down is transient: the
record goes back to `queued` with the reason on its row and is retried after COMPLIANCE_RETRY_DELAYS,
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

from audit.services import Action, audit_record, text_sha256
from backends.llm import LLMUnavailable
from compliance import comparisons, extractions, records, summaries
from compliance.models import Comparison, ComplianceRecord, ExtractionRun, RecordStatus, Summary
from docanalyst import dispatch
from docanalyst.dependencies import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)


MADE = {Summary: Action.SUMMARY_MADE, Comparison: Action.COMPARISON_MADE, ExtractionRun: Action.EXTRACTION_MADE}
RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, LLMUnavailable)


class RecordTask(Task):
    """Marks the record failed when the task gives up, whatever the reason. Retries of a service
    that is down (the model, the database) are not attempts: the attempt cap counts the times a
    worker was lost with the record in hand."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = len(settings.COMPLIANCE_RETRY_DELAYS)
    retry_delays = settings.COMPLIANCE_RETRY_DELAYS  # seconds; after the last, the record fails with the message
    soft_time_limit = settings.COMPLIANCE_SOFT_TIME_LIMIT
    time_limit = settings.COMPLIANCE_TIME_LIMIT
    record_model: type[ComplianceRecord] = Summary

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        record_id = args[0] if args else kwargs.get("record_id")
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"Stopped after {settings.COMPLIANCE_SOFT_TIME_LIMIT} s (COMPLIANCE_SOFT_TIME_LIMIT)."
        elif isinstance(exc, (LLMUnavailable, records.RecordNotPossible)):
            reason = str(exc)
        elif isinstance(exc, TRANSIENT_ERRORS):
            reason = f"A service stayed unavailable after {self.max_retries} retries ({type(exc).__name__})."
        else:
            logger.exception("%s %s failed", self.record_model.__name__, record_id, exc_info=exc)
            reason = f"Internal error ({type(exc).__name__}); the administrators can find it in the worker log."
        if record_id is not None:
            records.record_fail(self.record_model, int(record_id), reason)


def _run(task: RecordTask, record_id: int, build: Callable[[Any, records.Progress], None]) -> None:
    model = task.record_model
    record = records.record_claim(model, record_id, task.request.id or "")
    if record is None:
        logger.info("%s %s is finished or out of attempts; nothing to do", model.__name__, record_id)
        return
    try:
        build(record, records.progress_reporter(record))
    except RETRYABLE as exc:
        retries = task.request.retries
        if retries >= task.max_retries:
            raise  # on_failure marks the record failed with the service's message
        delay = task.retry_delays[min(retries, len(task.retry_delays) - 1)]
        records.record_wait(model, record_id, f"{exc} Trying again in {delay} s.")
        raise task.retry(exc=exc, countdown=delay) from exc
    _audit_made(record)


def _audit_made(record: ComplianceRecord) -> None:
    """The finished record in the audit trail: who asked, from which versions, the result's hash."""
    record.refresh_from_db()
    if record.status != RecordStatus.DONE:
        return  # taken over by another delivery, which records it
    produced = json.dumps(
        {f: getattr(record, f, None) for f in ("text", "sections", "rows", "citations")}, sort_keys=True, default=str
    )
    if isinstance(record, ExtractionRun):
        produced = json.dumps(list(record.values.values("document_id", "field", "value", "page")), sort_keys=True)
    audit_record(
        action=MADE[type(record)],
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


class SummaryTask(RecordTask):
    record_model = Summary


class ComparisonTask(RecordTask):
    record_model = Comparison


class ExtractionTask(RecordTask):
    record_model = ExtractionRun


@shared_task(base=SummaryTask, bind=True, name=dispatch.SUMMARIZE)
def summarize(self: RecordTask, record_id: int) -> None:
    _run(self, record_id, summaries.summary_build)


@shared_task(base=ComparisonTask, bind=True, name=dispatch.COMPARE)
def compare(self: RecordTask, record_id: int) -> None:
    _run(self, record_id, comparisons.comparison_build)


@shared_task(base=ExtractionTask, bind=True, name=dispatch.EXTRACT)
def extract(self: RecordTask, record_id: int) -> None:
    _run(self, record_id, extractions.extraction_build)


@shared_task(name=dispatch.REQUEUE_STALLED_RECORDS)
def requeue_stalled_records() -> int:
    return records.records_requeue_stalled()
