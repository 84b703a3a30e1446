"""Workers that survive faults: a worker killed with SIGKILL mid-document, Redis restarted (losing
every queued message) mid-batch, and two workers sharing one batch. Each test runs its own real
worker processes with fast fault detection (see FAST_RECOVERY)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from ingest import uploads
from ingest.models import Batch, Document
from tests.conftest import (
    FAST_RECOVERY,
    RUN_DIR,
    VENV_BIN,
    ServiceProcess,
    Worker,
    _database_url_for_children,
    wait_until,
)
from tests.documents import FILLER, make_pdf, upload
from tests.factories import CollectionFactory, UserFactory

pytestmark = pytest.mark.worker


def long_pdf(path: Path, pages: int) -> Path:
    return make_pdf(
        path, [[f"Section {p}", *[f"{FILLER[:80]} Item {p}.{line}." for line in range(40)]] for p in range(pages)]
    )


def assert_exactly_one_set_of_chunks(document: Document, vector_store: Any) -> None:
    ordinals = list(document.chunks.order_by("ordinal").values_list("ordinal", flat=True))
    assert ordinals == list(range(document.chunk_count))
    assert vector_store.count(document.collection_id, document.pk) == document.chunk_count


def batch_of(tmp_path: Path, count: int, pages: int) -> tuple[Batch, list[Document]]:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    files = [upload(long_pdf(tmp_path / f"report-{i}.pdf", pages)) for i in range(count)]
    batch = uploads.batch_create_from_uploads(collection=collection, files=files, user=user)
    return batch, list(Document.objects.filter(batch=batch).order_by("pk"))


def all_ready(batch: Batch) -> bool:
    return not Document.objects.filter(batch=batch).exclude(status=Document.Status.READY).exists()


def test_a_worker_killed_mid_document_is_replaced_and_the_document_ends_ready_once(
    exclusive_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    batch, (document,) = batch_of(tmp_path, 1, pages=60)
    doomed = Worker("doomed", concurrency=1, extra_env=FAST_RECOVERY, beat=True).start()
    wait_until(lambda: Document.objects.get(pk=document.pk).status in ("parsing", "embedding"), 120, "work started")

    doomed.stop(signal.SIGKILL)  # the whole process group: main process, pool child and beat
    killed_in = Document.objects.get(pk=document.pk).status
    assert killed_in in ("parsing", "embedding")
    replacement = Worker("replacement", concurrency=1, extra_env=FAST_RECOVERY, beat=True).start()
    try:
        wait_until(lambda: all_ready(batch), 240, "document ready after the kill", interval=0.5)
    finally:
        replacement.stop()

    document.refresh_from_db()
    assert document.attempts <= 2
    assert_exactly_one_set_of_chunks(document, vector_store)


def test_a_document_whose_pool_process_is_killed_is_picked_up_again_within_30_seconds_by_default(
    exclusive_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    """With the default heartbeat, stall and sweep settings (no FAST_RECOVERY): the pool process
    working on the document is SIGKILLed; the worker's main process lives on and a new pool
    process takes the document again once its heartbeat has expired."""
    import time

    import psutil

    batch, (document,) = batch_of(tmp_path, 1, pages=80)
    worker = Worker("default-recovery", concurrency=1).start()  # the scheduler runs on its own, below
    scheduler = ServiceProcess(
        "default-recovery-beat",
        [str(VENV_BIN / "celery"), "-A", "docanalyst", "beat", "--schedule", str(RUN_DIR / "recovery-beat-schedule")],
        env={"DATABASE_URL": _database_url_for_children()},
    ).start()
    try:
        wait_until(lambda: Document.objects.get(pk=document.pk).status == "parsing", 120, "parsing started")
        assert worker.service.process is not None
        (pool_process,) = psutil.Process(worker.service.process.pid).children()  # concurrency 1: one
        killed_at = time.monotonic()
        pool_process.send_signal(signal.SIGKILL)
        wait_until(
            lambda: Document.objects.get(pk=document.pk).attempts >= 2, 60, "the document picked up again", interval=0.2
        )
        recovered_in = time.monotonic() - killed_at
        wait_until(lambda: all_ready(batch), 240, "document ready after the kill", interval=0.5)
    finally:
        scheduler.stop()
        worker.stop()

    assert recovered_in < 30, f"picked up again after {recovered_in:.1f} s"
    document.refresh_from_db()
    assert_exactly_one_set_of_chunks(document, vector_store)


def test_redis_restarted_mid_batch_loses_no_document_and_leaves_none_stuck(
    exclusive_stack: Any, redis_server: ServiceProcess, vector_store: Any, tmp_path: Path
) -> None:
    batch, _documents = batch_of(tmp_path, 6, pages=12)
    worker = Worker("survivor", concurrency=1, extra_env=FAST_RECOVERY, beat=True).start()
    try:
        wait_until(lambda: Document.objects.filter(batch=batch, status="ready").exists(), 180, "first document ready")
        assert not all_ready(batch)

        redis_server.stop(signal.SIGKILL)  # nothing persisted: every queued message is gone
        redis_server.start()
        wait_until(lambda: all_ready(batch), 300, "every document ready after the Redis restart", interval=0.5)
    finally:
        worker.stop()

    for document in Document.objects.filter(batch=batch):
        assert_exactly_one_set_of_chunks(document, vector_store)
    assert "Connection to broker lost" in worker.service.log() or "Cannot connect" in worker.service.log()


def test_two_workers_ingesting_one_batch_leave_every_document_ready_with_exact_counts(
    exclusive_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    batch, _documents = batch_of(tmp_path, 8, pages=3)
    workers = [Worker(f"twin{i}", concurrency=1).start() for i in range(2)]
    try:
        wait_until(lambda: all_ready(batch), 300, "every document ready", interval=0.5)
    finally:
        for worker in workers:
            worker.stop()

    ready = list(Document.objects.filter(batch=batch))
    for document in ready:
        assert_exactly_one_set_of_chunks(document, vector_store)
    assert vector_store.count(batch.collection_id) == sum(d.chunk_count for d in ready)
    logs = [w.service.log() for w in workers]
    assert all("succeeded" in log for log in logs), "both workers took part"
