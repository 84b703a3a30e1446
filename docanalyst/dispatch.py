"""The one way work is queued: by task name, once the rows it needs are committed, failing fast
while the broker is down. Services call the typed functions below; tasks register under the names
below. This module imports neither services nor tasks, so neither side imports the other.

A message that cannot be sent is not lost: `on_unavailable` marks its row "waiting for the queue"
and the beat sweep queues it once the broker answers (`ingest.services.documents_requeue_stalled`,
`compliance.records.records_requeue_stalled`). Routes (which queue each name goes to) are
`CELERY_TASK_ROUTES` in settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from docanalyst.celery import app
from docanalyst.dependencies import broker_errors

logger = logging.getLogger(__name__)

WAITING_FOR_QUEUE = "waiting for the queue"

PARSE_DOCUMENT = "ingest.tasks.parse_document"
EMBED_DOCUMENT = "ingest.tasks.embed_document"
UNPACK_ARCHIVE = "ingest.tasks.unpack_archive"
REQUEUE_STALLED_DOCUMENTS = "ingest.tasks.requeue_stalled_documents"
SUMMARIZE = "compliance.tasks.summarize"
COMPARE = "compliance.tasks.compare"
EXTRACT = "compliance.tasks.extract"
REQUEUE_STALLED_RECORDS = "compliance.tasks.requeue_stalled_records"

# The task that makes each kind of compliance record, by the record's model label.
RECORD_TASKS = {
    "compliance.summary": SUMMARIZE,
    "compliance.comparison": COMPARE,
    "compliance.extractionrun": EXTRACT,
}

OnUnavailable = Callable[[], object] | None


def publish(name: str, object_id: int, *, on_unavailable: OnUnavailable = None) -> bool:
    """Send one task message now, failing fast: when the broker is down nothing is sent,
    `on_unavailable` records it for the sweep and False is returned."""
    try:
        app.send_task(name, args=(object_id,), retry=False)
    except broker_errors() as exc:
        logger.warning("broker unavailable, %s(%s) left for the sweep: %s", name, object_id, exc)
        if on_unavailable is not None:
            on_unavailable()
        return False
    return True


def after_commit(name: str, object_id: int, *, on_unavailable: OnUnavailable = None) -> None:
    """`publish` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: publish(name, object_id, on_unavailable=on_unavailable))


def parse_document(document_id: int, *, on_unavailable: OnUnavailable = None) -> None:
    after_commit(PARSE_DOCUMENT, document_id, on_unavailable=on_unavailable)


def embed_document(document_id: int) -> None:
    after_commit(EMBED_DOCUMENT, document_id)


def unpack_archive(member_id: int) -> None:
    after_commit(UNPACK_ARCHIVE, member_id)


def make_record(label: str, record_id: int, *, on_unavailable: OnUnavailable = None) -> None:
    """Queue the task that makes a compliance record (`label`: its model's `_meta.label_lower`)."""
    after_commit(RECORD_TASKS[label], record_id, on_unavailable=on_unavailable)
