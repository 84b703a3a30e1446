"""The stack of `bench/eval_retrieval.py`: its scratch directory (kept, locked, fingerprinted),
the services `bench/ingest.py` starts, ingestion through the real workers, the evaluating user,
and the lines that say on what machine the figures were measured."""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from ingest.models import Collection
    from tests.stack import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
# A kept ingestion is reused only while this code is unchanged (see `stale_because`).
FINGERPRINTED = ("ingest/migrations", "ingest/pipeline", "ingest/services.py")
FINGERPRINT_FILE = "eval-ingest-fingerprint.json"
LOCK_FILE = "eval.lock"


@dataclass(frozen=True)
class Stack:
    """The scratch directory, `bench/ingest.py` (whose helpers start the services), the environment
    it configured, and the fingerprint of the ingestion code as this run started."""

    scratch: Path
    bench: ModuleType
    env: dict[str, str]
    fingerprint: dict[str, str]


def load_bench_ingest() -> ModuleType:
    """`bench/ingest.py` as a module: its `configure`, `start_services`, `start_worker`, `wait_for`."""
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def code_fingerprint() -> dict[str, str]:
    """Digests of the code that decides what an ingestion stores (schema, chunks, vectors)."""
    files = sorted(
        path
        for place in FINGERPRINTED
        for path in ([ROOT / place] if (ROOT / place).is_file() else (ROOT / place).rglob("*.py"))
    )
    return {str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def stale_because(scratch: Path) -> list[str]:
    """Why a kept database no longer matches the code (empty: it does, or there is none). A
    migration edited in place since the ingestion would leave its schema or index behind."""
    if not (scratch / "docanalyst.sqlite3").exists():
        return []
    record = scratch / FINGERPRINT_FILE
    if not record.exists():
        return [f"no {FINGERPRINT_FILE}: the code it was ingested with is unknown"]
    recorded: dict[str, str] = json.loads(record.read_text())
    now = code_fingerprint()
    return [f"{path} changed" for path, digest in recorded.items() if now.get(path) != digest]


def lock_scratch(scratch: Path) -> IO[str]:
    """One run at a time per scratch directory: a second one would clear or ingest into the
    database under the first one's workers. The lock lasts as long as the returned file is open."""
    handle = (scratch / LOCK_FILE).open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"{scratch} is in use by another bench/eval_retrieval run") from None
    return handle


def clear_scratch(scratch: Path) -> None:
    """Remove what this harness keeps in a scratch directory (and nothing else)."""
    for name in (
        "docanalyst.sqlite3",
        "docanalyst.sqlite3-wal",
        "docanalyst.sqlite3-shm",
        "worker.log",
        FINGERPRINT_FILE,
    ):
        (scratch / name).unlink(missing_ok=True)
    for name in ("chroma", "media"):
        shutil.rmtree(scratch / name, ignore_errors=True)


def collection_name_for(folder: Path) -> str:
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:8]
    return f"eval-{digest} {folder.name}"[:200]


def stop(children: Sequence[ServiceProcess]) -> None:
    for child in reversed(children):
        child.stop(timeout=30)


def exit_on_sigterm() -> None:
    """A SIGTERM (a `timeout`, a killed job) unwinds like Ctrl-C, so that the services started
    here are stopped rather than left running."""

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def ingest_folder(stack: Stack, folder: Path, collection: Collection, concurrency: int) -> None:
    """The folder as one batch through real workers, as `manage.py ingest` does; the worker is
    stopped afterwards so that it takes no CPU from the timings."""
    from tqdm import tqdm

    from ingest import selectors, uploads

    worker, worker_log = stack.bench.start_worker(stack.env, stack.scratch, concurrency)
    try:
        stack.bench.wait_for(lambda: stack.bench.worker_ready(worker_log, concurrency), 180, "the Celery worker")
        batch = uploads.batch_create_from_path(collection=collection, path=folder, user=None)
        with tqdm(desc="ingesting", unit="doc", file=sys.stderr) as bar:
            while True:
                batch.refresh_from_db()
                progress = selectors.batch_progress(batch)
                bar.total = progress.documents
                bar.n = progress.ready + progress.failed
                bar.refresh()
                if progress.state not in ("processing", "unpacking"):
                    break
                time.sleep(1)
    finally:
        stop([worker])


def eval_user() -> User:
    """An ordinary signed-in user (no admin role), as the API's callers are."""
    from django.contrib.auth.models import User

    user = User.objects.filter(username="eval").first()
    return user or User.objects.create_user(username="eval", password=None)


def grant_read(user: User, collection: Collection) -> None:
    """Read access to the collection through a grant, as an ordinary user gets it, where the app
    has per-collection grants (before them, every signed-in user read every collection)."""
    import ingest.models

    access = getattr(ingest.models, "CollectionAccess", None)
    if access is not None:
        access.objects.get_or_create(collection=collection, user=user)


def machine_line() -> str:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs, {model or 'unknown CPU'}; {platform.platform()}; "
        f"python {platform.python_version()}; load average {load}; date {now}"
    )


def embedder_line() -> str:
    import torch
    from django.conf import settings

    from backends.embedder import get_embedder

    embedder = get_embedder()
    return (
        f"embedder: {embedder.name} ({embedder.dimension} dimensions) on {settings.EMBEDDING_DEVICE}, "
        f"torch threads {torch.get_num_threads()}; load average now "
        + " ".join(f"{value:.2f}" for value in os.getloadavg())
    )
