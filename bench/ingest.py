"""Ingestion benchmark: a folder through the real workers, against the raw components.

    bench/ingest [FOLDER] [--concurrency N]        (default FOLDER: ../shared/corpus)

Starts its own Redis, Chroma server and Celery worker on a scratch directory, ingests every file
of FOLDER as one batch (exactly like `manage.py ingest`), and reports documents/s, pages/s,
chunks/s and the peak memory of each worker process. Then, in this process and on the same
files, it times the raw components: `unstructured` partitioning alone (plus Tesseract on the
pages the pipeline had to OCR, the raw component for scans) and the embedding model's batched
encode of the same chunks. It ends with

    ratio <end-to-end seconds / (raw parse seconds + raw embed seconds)>
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests.stack import (  # noqa: E402 - the services as the tests start them, from the repository root
    INGEST_QUEUES,
    ServiceProcess,
    chroma_answers,
    chroma_command,
    redis_command,
    wait_until,
    worker_command,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def configure(scratch: Path) -> dict[str, str]:
    env = {
        "VAR_DIR": str(scratch),
        "SECRET_KEY": "bench",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "CHROMA_HOST": "127.0.0.1",
        "CHROMA_PORT": str(free_port()),
        "CHROMA_COLLECTION_PREFIX": "bench",
        "DJANGO_SETTINGS_MODULE": "docanalyst.settings",
        "LOG_LEVEL": "INFO",
        "TASK_SOFT_TIME_LIMIT": "3600",
    }
    os.environ.update(env)
    return env


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    try:
        wait_until(check, timeout, what, interval=0.3)
    except TimeoutError as exc:
        raise SystemExit(f"{what} did not start") from exc


def start_services(scratch: Path) -> list[ServiceProcess]:
    """Redis and the Chroma server on the ports `configure` chose, state and logs under `scratch`;
    returns once Chroma answers. (Django must be set up.)"""
    from django.conf import settings

    redis_port = int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    children = [
        ServiceProcess("redis", redis_command(redis_port, scratch), log_dir=scratch).start(),
        ServiceProcess("chroma", chroma_command(scratch / "chroma", settings.CHROMA_PORT), log_dir=scratch).start(),
    ]
    wait_for(lambda: chroma_answers(settings.CHROMA_PORT), 60, "Chroma")
    return children


def start_worker(env: dict[str, str], scratch: Path, concurrency: int) -> tuple[ServiceProcess, Path]:
    """A Celery worker on every ingestion queue, logging to `scratch/worker.log` (not yet waited for:
    it is ready once the log says "ready.")."""
    worker = ServiceProcess("worker", worker_command(INGEST_QUEUES, concurrency), env=env, log_dir=scratch).start()
    return worker, worker.log_path


class PeakMemory(threading.Thread):
    """Samples the resident memory of a process tree; keeps each process's peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while not self.stop.wait(0.5):
            try:
                for process in [root, *root.children(recursive=True)]:
                    # Worker processes by pid; short-lived helpers (tesseract, soffice, pandoc) by name.
                    name = process.name()
                    key = f"celery process {process.pid}" if "celery" in " ".join(process.cmdline()[:2]) else name
                    rss = process.memory_info().rss / 2**20
                    self.peaks[key] = max(self.peaks.get(key, 0.0), rss)
            except psutil.Error:
                continue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    folder = Path(args.folder).resolve()
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder")

    scratch = Path(tempfile.mkdtemp(prefix="docanalyst-bench-"))
    env = configure(scratch)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    children = start_services(scratch)
    worker, worker_log = start_worker(env, scratch, args.concurrency)
    children.append(worker)
    try:
        wait_for(lambda: "ready." in worker_log.read_text(errors="replace"), 120, "the Celery worker")
        return run(folder, worker, worker_log, args.concurrency)
    finally:
        for child in reversed(children):
            child.stop(timeout=30)


def run(folder: Path, worker: ServiceProcess, worker_log: Path, concurrency: int) -> int:
    from ingest import selectors, services, uploads
    from ingest.models import Chunk, Document

    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()]
    print(
        f"folder {folder}: {len(files)} files, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB; "
        f"worker concurrency {concurrency}",
        flush=True,
    )

    assert worker.process is not None
    memory = PeakMemory(worker.process.pid)
    memory.start()
    started = time.monotonic()
    batch = uploads.batch_create_from_path(
        collection=services.collection_get_or_create(name="bench"), path=folder, user=None
    )
    while True:
        batch.refresh_from_db()
        progress = selectors.batch_progress(batch)
        if progress.state not in ("processing", "unpacking"):
            break
        time.sleep(1)
    end_to_end = time.monotonic() - started
    memory.stop.set()

    ready = Document.objects.filter(batch=batch, status=Document.Status.READY)
    documents = ready.count()
    pages = sum(p or 0 for p in ready.values_list("page_count", flat=True))
    chunks = list(
        Chunk.objects.filter(document__in=ready).order_by("document_id", "ordinal").values_list("text", flat=True)
    )
    log = worker_log.read_text(errors="replace")
    embed_stage = sum(float(s) for s in re.findall(r"embedded and indexed: \d+ chunks in ([\d.]+)s", log))
    print(
        f"end-to-end {end_to_end:.1f} s: {documents} documents ready, {progress.failed} failed, "
        f"{progress.duplicates} duplicates, {progress.skipped} skipped",
        flush=True,
    )
    rates = f"documents/s {documents / end_to_end:.3f}  pages/s {pages / end_to_end:.2f}"
    print(f"{rates}  chunks/s {len(chunks) / end_to_end:.2f}")
    embedded, total = text_embedded(ready)
    print(
        f"text embedded {100 * embedded / max(total, 1):.2f}% ({embedded} of {total} tokens inside the model's window)"
    )
    for name, peak in sorted(memory.peaks.items()):
        print(f"peak memory {peak:.0f} MiB  {name}")

    reindex = reindex_seconds(ready)
    raw_parse, ocr_seconds = raw_parse_seconds(ready)
    raw_torch = raw_embed_seconds(chunks)
    raw_embed = raw_onnx_embed_seconds(chunks)
    pipeline_embed_rate = len(chunks) / embed_stage if embed_stage else 0.0
    raw_embed_rate = len(chunks) / raw_embed if raw_embed else 0.0
    print(f"raw parse {raw_parse:.1f} s (unstructured partition, of which Tesseract on OCR pages {ocr_seconds:.1f} s)")
    torch_rate = len(chunks) / raw_torch if raw_torch else 0.0
    print(f"raw embed, PyTorch (sentence-transformers) {raw_torch:.1f} s ({torch_rate:.1f} chunks/s, batch 32)")
    print(
        f"raw embed, ONNX Runtime (the app's CPU encoder) {raw_embed:.1f} s ({raw_embed_rate:.1f} chunks/s, batch 32)"
    )
    print(
        f"pipeline embed+index stage {embed_stage:.1f} s of worker time ({pipeline_embed_rate:.1f} chunks/s, "
        f"{100 * pipeline_embed_rate / raw_embed_rate if raw_embed_rate else 0:.0f}% of raw encode)"
    )
    reindex_rate = len(chunks) / reindex if reindex else 0.0
    print(
        f"pipeline re-index (embed+index only, through the workers) {reindex:.1f} s ({reindex_rate:.1f} chunks/s, "
        f"{100 * reindex_rate / raw_embed_rate if raw_embed_rate else 0:.0f}% of raw encode)"
    )
    print(f"ratio {end_to_end / (raw_parse + raw_embed):.3f}")
    return 0


def reindex_seconds(ready) -> float:  # type: ignore[no-untyped-def]
    """The embed-and-index stage alone through the workers (what `manage.py reindex` does)."""
    from ingest.models import Document
    from ingest.services import EMBED_QUEUED
    from ingest.tasks import embed_document

    ids = list(ready.values_list("pk", flat=True))
    started = time.monotonic()
    Document.objects.filter(pk__in=ids).update(status=Document.Status.EMBEDDING, stage=EMBED_QUEUED)
    for document_id in ids:
        embed_document.delay(document_id)
    while Document.objects.filter(pk__in=ids, status=Document.Status.READY).count() < len(ids):
        time.sleep(0.2)
    return time.monotonic() - started


def raw_parse_seconds(ready) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """`unstructured` partitioning alone on each ingested file, plus raw Tesseract on the pages the
    pipeline OCRed (scans), measured here in one process."""
    from unstructured.partition.auto import partition

    from ingest.pipeline.ocr import ocr_image_file, ocr_pdf_pages
    from ingest.pipeline.parse import _prepare_unstructured

    _prepare_unstructured()
    total = ocr = 0.0
    for document in ready:
        path = Path(document.file.path)
        ocr_pages = document.metadata.get("ocr_pages") or []
        started = time.monotonic()
        if document.mime_type.startswith("image/"):
            list(ocr_image_file(path))
            ocr += time.monotonic() - started
        else:
            try:
                partition(filename=str(path), strategy="fast", languages=["eng"])
            except Exception as exc:
                print(f"  raw partition failed on {document.path}: {type(exc).__name__}", flush=True)
            if ocr_pages:
                ocr_started = time.monotonic()
                list(ocr_pdf_pages(path, ocr_pages))
                ocr += time.monotonic() - ocr_started
        total += time.monotonic() - started
    return total, ocr


def raw_embed_seconds(chunks: list[str]) -> float:
    from sentence_transformers import SentenceTransformer

    from backends.embedder import embedding_model_path

    model = SentenceTransformer(str(embedding_model_path()), device="cpu", local_files_only=True)
    model.encode(chunks[:64], batch_size=32)  # warm-up
    started = time.monotonic()
    model.encode(chunks, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    return time.monotonic() - started


def text_embedded(ready) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Tokens of what is embedded for each chunk (its context line and text) that fall inside the
    embedder's window, and all of them: what a vector can represent of the text."""
    from backends.embedder import get_tokenizer
    from ingest.models import Chunk
    from ingest.pipeline.index import embedding_text

    tokens = get_tokenizer()
    counts = tokens.count_many([embedding_text(c) for c in Chunk.objects.filter(document__in=ready)])
    return sum(min(n, tokens.max_tokens) for n in counts), sum(counts)


def raw_onnx_embed_seconds(chunks: list[str]) -> float:
    """The app's CPU encoder alone (ONNX Runtime on the exported model), on all cores."""
    from backends.embedder import _max_seq_length, embedding_model_path
    from backends.onnx_embedder import OnnxEmbedder

    path = embedding_model_path()
    model = OnnxEmbedder(path, batch_size=32, max_tokens=_max_seq_length(path))
    model.encode(chunks[:64])  # warm-up
    started = time.monotonic()
    model.encode(chunks)
    return time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
