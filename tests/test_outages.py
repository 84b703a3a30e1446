"""A dependency down is a 503 with a readable reason, never an HTML 500, and nothing accepted is
lost: Redis refusing connections, Redis paused, Chroma stopped — the real servers of the test
session, stopped and started again — and the health check that reports each."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from docanalyst.dispatch import WAITING_FOR_QUEUE
from ingest.models import Document
from ingest.services import documents_requeue_stalled
from tests.conftest import wait_for_documents
from tests.documents import make_pdf, upload
from tests.factories import CollectionFactory, UserFactory
from tests.stack import ServiceProcess, wait_until

pytestmark = pytest.mark.worker


def planted_pdf(tmp_path: Any) -> Any:
    return make_pdf(tmp_path / "bolts.pdf", [["Fasteners"], ["The torque value for anchor bolt TC-4410-B is 42 Nm."]])


def warm_up() -> None:
    """Load the embedding model first: the timings below are the outage's, not a cold start's."""
    from backends.embedder import get_embedder

    get_embedder().encode(["warm-up"])


def test_with_redis_refusing_connections_asking_works_and_an_upload_is_kept_for_later(
    ingest_stack: Any, redis_server: ServiceProcess, tmp_path: Any
) -> None:
    user = UserFactory(roles=["admin"])
    collection = CollectionFactory(writers=[user], readers=[user])
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(user)
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    warm_up()

    redis_server.stop()
    try:
        started = time.monotonic()
        asked = api.post("/api/v1/ask", {"question": "What is the torque of TC-4410-B?"}, format="json")
        asked_in = time.monotonic() - started
        page = browser.post("/ask/", {"question": "What is the torque of TC-4410-B?"})
        started = time.monotonic()
        uploaded = api.post(
            "/api/v1/documents", {"file": [upload(planted_pdf(tmp_path))], "collection": str(collection.pk)}
        )
        uploaded_in = time.monotonic() - started
        health = browser.get("/healthz")
    finally:
        redis_server.start()

    assert asked.status_code == 200 and asked_in < 5, (asked.status_code, asked_in)  # rate limit fails open
    assert page.status_code == 302  # the browser's question is taken too
    assert uploaded.status_code == 202 and uploaded_in < 10, (uploaded.status_code, uploaded_in)
    (created,) = uploaded.json()["documents"]
    assert (created["status"], created["stage"]) == ("queued", WAITING_FOR_QUEUE)  # said so, not "failed"
    assert health.status_code == 503 and health.json()["checks"]["redis"]["state"] == "down"
    assert health.json()["checks"]["database"]["state"] == "ok"

    import redis
    from django.conf import settings

    wait_until(lambda: bool(redis.Redis.from_url(settings.REDIS_URL).ping()), 20, "Redis again")
    documents_requeue_stalled()  # what the scheduler's next sweep does once the broker answers
    (document,) = wait_for_documents([created["id"]])
    assert document.status == Document.Status.READY and document.chunk_count > 0


def test_with_redis_paused_an_upload_and_a_question_are_answered_within_seconds(
    ingest_stack: Any, redis_server: ServiceProcess, tmp_path: Any
) -> None:
    user = UserFactory(roles=["admin"])
    collection = CollectionFactory(writers=[user], readers=[user])
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(user)
    assert redis_server.process is not None
    warm_up()

    os.killpg(redis_server.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        asked = api.post("/api/v1/ask", {"question": "What is the torque of TC-4410-B?"}, format="json")
        asked_in = time.monotonic() - started
        started = time.monotonic()
        uploaded = api.post(
            "/api/v1/documents", {"file": [upload(planted_pdf(tmp_path))], "collection": str(collection.pk)}
        )
        uploaded_in = time.monotonic() - started
    finally:
        os.killpg(redis_server.process.pid, signal.SIGCONT)

    assert asked.status_code == 200 and asked_in < 5, (asked.status_code, asked_in)
    assert uploaded.status_code == 202 and uploaded_in < 10, (uploaded.status_code, uploaded_in)
    (created,) = uploaded.json()["documents"]
    assert created["status"] == "queued"


def test_with_chroma_stopped_search_answers_503_with_the_reason_and_the_browser_a_page(
    ingest_stack: Any, chroma_server: ServiceProcess
) -> None:
    from django.conf import settings

    from backends.vectorstore import get_vector_store
    from tests.search.corpus import indexed_document

    user = UserFactory()
    indexed_document(CollectionFactory(readers=[user]), "bolts.pdf", ["Anchor bolt torque is 42 newton metres."])
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(user)
    browser = Client(raise_request_exception=False)
    browser.force_login(user)

    chroma_server.stop()
    try:
        searched = api.get("/api/v1/search", {"q": "anchor bolt torque"})
        asked = api.post("/api/v1/ask", {"question": "anchor bolt torque?"}, format="json")
        page = browser.get("/", {"q": "anchor bolt torque"})
        health = browser.get("/healthz")
    finally:
        chroma_server.start()
        import urllib.request

        def up() -> bool:
            url = f"http://127.0.0.1:{settings.CHROMA_PORT}/api/v2/heartbeat"
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200

        wait_until(up, 60, "Chroma again")
        get_vector_store.cache_clear()

    assert searched.status_code == 503 and searched["Content-Type"] == "application/json"
    assert searched.json() == {
        "detail": "Chroma (the vector store) is unavailable at the moment; try again shortly.",
        "unavailable": "chroma",
    }
    assert searched["Retry-After"] == "30"
    assert asked.status_code == 503 and "Chroma" in asked.json()["detail"]
    assert page.status_code == 503 and "Chroma (the vector store) is unavailable" in page.content.decode()
    assert health.status_code == 503 and health.json()["checks"]["chroma"]["state"] == "down"


def test_the_health_check_reports_every_dependency_and_the_model_when_one_is_configured(
    ingest_stack: Any, settings: Any
) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    settings.LLM_MODEL = "stub"

    health = Client().get("/healthz")

    checks = health.json()["checks"]
    assert health.status_code == 200  # the model is reported, not required: search still works
    assert {name: c["state"] for name, c in checks.items()} == {
        "database": "ok",
        "redis": "ok",
        "chroma": "ok",
        "model": "down",
    }
    assert checks["model"]["required"] is False and checks["chroma"]["required"] is True


def test_with_the_database_unreachable_the_api_and_the_browser_answer_503_with_the_reason(tmp_path: Any) -> None:
    """A real refused connection: the app configured for a PostgreSQL server that does not listen."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = (
        "import django, json; django.setup();"
        "from django.test import Client; c = Client(raise_request_exception=False); c.cookies['sessionid'] = 'a' * 32;"
        "api = c.get('/api/v1/collections', HTTP_AUTHORIZATION='Bearer abc');"
        "page = c.get('/documents/'); health = c.get('/healthz');"
        "print(json.dumps([api.status_code, api.json(), page.status_code, page.content.decode(),"
        " health.status_code, health.json()['checks']['database']['state']]))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "docanalyst.settings",
        "SECRET_KEY": "x",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",  # nothing listens on port 9
        "ALLOWED_HOSTS": "testserver",
    }
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, env=env)

    assert completed.returncode == 0, completed.stderr[-2000:]
    api_status, api_body, page_status, page, health_status, database = json.loads(completed.stdout)
    assert (api_status, api_body["unavailable"]) == (503, "database")
    assert api_body["detail"] == "The database is unavailable at the moment; try again shortly."
    assert page_status == 503 and "The database is unavailable" in page and "Server Error" not in page
    assert (health_status, database) == (503, "down")
