"""Ingestion benchmark: a folder through the real workers, against the raw components.

    bench/ingest [FOLDER] [--concurrency N] [--unstructured-reference]
                                                    (default FOLDER: ../shared/corpus)

Starts its own Redis, Chroma server and Celery worker on a scratch directory, ingests every file
of FOLDER as one batch (exactly like `manage.py ingest`), and reports documents/s, pages/s,
chunks/s, the share of text embedded and the peak memory of each worker process; then the same
for each path a page took (PDFium's text layer, `unstructured`, pdftotext, OCR; other formats),
from the workers' own timings. Then, in this process and on the same files, it times the raw
components: each path's reader alone on the pages it read (PDFium's text extraction, `unstructured`
partitioning, Tesseract) and the embedding model's batched encode of the same chunks, PyTorch and
ONNX Runtime. It ends with

    ratio <end-to-end seconds / (raw parse seconds + raw embed seconds)>

`--unstructured-reference` also times `unstructured` partitioning every file (what every page cost
before the fast path) and prints the ratio against it, the figure earlier runs reported.
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from eval_stack import exit_on_sigterm  # noqa: E402 - bench/, this script's folder

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


def worker_ready(worker_log: Path, concurrency: int) -> bool:
    """Every pool process has loaded its models (and the encoder has been measured on this CPU, once
    per machine): Celery's own "ready." comes before its processes have warmed up."""
    text = worker_log.read_text(errors="replace")
    return "ready." in text and text.count("worker process ready") >= concurrency


def start_worker(env: dict[str, str], scratch: Path, concurrency: int) -> tuple[ServiceProcess, Path]:
    """A Celery worker on every ingestion queue, logging to `scratch/worker.log` (not yet waited for:
    it is ready once `worker_ready` says so)."""
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
    parser.add_argument("--unstructured-reference", action="store_true", help="also time unstructured on every file")
    args = parser.parse_args()
    folder = Path(args.folder).resolve()
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder")

    exit_on_sigterm()  # a killed run stops its Redis, Chroma and worker too
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
        wait_for(lambda: worker_ready(worker_log, args.concurrency), 180, "the Celery worker")
        return run(folder, worker, worker_log, args.concurrency, args.unstructured_reference)
    finally:
        for child in reversed(children):
            child.stop(timeout=30)


def run(folder: Path, worker: ServiceProcess, worker_log: Path, concurrency: int, reference: bool) -> int:
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

    paths = paths_taken(ready, log)
    for name, path in paths.items():
        rate = (
            f"{path.pages / path.seconds:.1f} pages/s, {path.chunks / path.seconds:.1f} chunks/s"
            if path.seconds
            else "-"
        )
        print(f"path {name}: {path.pages} pages, {path.chunks} chunks, {path.seconds:.1f} s of worker time ({rate})")

    reindex = reindex_seconds(ready)
    raw_paths = raw_parse_seconds(ready)
    raw_parse = sum(raw_paths.values())
    from backends.embedder import get_embedder

    backend = "onnx" if type(get_embedder()).__name__ == "OnnxEmbedder" else "torch"
    batch = get_embedder().batch_size  # what this CPU measured fastest (backends.encoder_choice)
    raw_torch = raw_embed_seconds(chunks, batch)
    raw_onnx = raw_onnx_embed_seconds(chunks, batch)
    raw_embed = raw_onnx if backend == "onnx" else raw_torch
    pipeline_embed_rate = len(chunks) / embed_stage if embed_stage else 0.0
    raw_embed_rate = len(chunks) / raw_embed if raw_embed else 0.0
    detail = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in raw_paths.items())
    print(f"raw parse {raw_parse:.1f} s (each path's reader alone on its pages: {detail})")
    torch_rate = len(chunks) / raw_torch if raw_torch else 0.0
    onnx_rate = len(chunks) / raw_onnx if raw_onnx else 0.0
    print(f"raw embed, PyTorch (sentence-transformers) {raw_torch:.1f} s ({torch_rate:.1f} chunks/s, batch {batch})")
    print(f"raw embed, ONNX Runtime {raw_onnx:.1f} s ({onnx_rate:.1f} chunks/s, batch {batch})")
    print(f"the app encodes with {backend} in batches of {batch} (the fastest measured on this CPU)")
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
    if reference:
        unstructured_all = unstructured_every_file_seconds(ready)
        print(f"reference: unstructured partition of every file {unstructured_all:.1f} s")
        print(f"ratio against unstructured on every file {end_to_end / (unstructured_all + raw_embed):.3f}")
    return 0


@dataclass
class PathTaken:
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0


def _pages_of(ranges: str) -> list[int]:
    found: list[int] = []
    for part in ranges.split(","):
        first, _, last = part.strip().partition("-")
        found.extend(range(int(first), int(last or first) + 1))
    return found


_READ = re.compile(r"; (\w+) read [\d, -]+ in ([\d.]+)s")
_PARSED = re.compile(r"document (\d+) parsed: [^;\n]*? in ([\d.]+)s([^\n]*)$", re.MULTILINE)


def paths_taken(ready, log: str) -> dict[str, PathTaken]:  # type: ignore[no-untyped-def]
    """Pages, chunks and worker seconds of each path: a PDF's pages by the reader that read them
    (its seconds from the parse stage's log line), every other file as "other formats"."""
    from ingest.models import Chunk

    seconds: dict[int, tuple[float, dict[str, float]]] = {
        int(m.group(1)): (float(m.group(2)), {r: float(t) for r, t in _READ.findall(m.group(3))})
        for m in _PARSED.finditer(log)
    }
    paths: dict[str, PathTaken] = {}
    chunk_pages: dict[int, list[int | None]] = {}
    for document_id, page in Chunk.objects.filter(document__in=ready).values_list("document_id", "page_number"):
        chunk_pages.setdefault(document_id, []).append(page)
    for document in ready:
        total, by_reader = seconds.get(document.pk, (0.0, {}))
        readers = document.metadata.get("pages_read_by") or {}
        if not readers:
            path = paths.setdefault("other formats", PathTaken())
            path.pages += document.page_count or 0
            path.chunks += len(chunk_pages.get(document.pk, []))
            path.seconds += total
            continue
        reader_of = {page: reader for reader, ranges in readers.items() for page in _pages_of(ranges)}
        for reader, ranges in readers.items():
            path = paths.setdefault(reader, PathTaken())
            path.pages += len(_pages_of(ranges))
            path.seconds += by_reader.get(reader, 0.0)
        for page in chunk_pages.get(document.pk, []):
            if page in reader_of:
                paths[reader_of[page]].chunks += 1
    return paths


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


def raw_parse_seconds(ready) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Each path's reader alone, in this process, on the pages it read: PDFium's text extraction
    (`get_text_range`), `unstructured` partitioning (whole files: other formats, and PDFs with pages
    it read), Tesseract on the OCRed pages."""
    import pypdfium2
    from unstructured.partition.auto import partition

    from ingest.pipeline.ocr import ocr_image_file, ocr_pdf_pages
    from ingest.pipeline.parse import _prepare_unstructured

    _prepare_unstructured()
    seconds: dict[str, float] = {}

    def add(name: str, started: float) -> None:
        seconds[name] = seconds.get(name, 0.0) + time.monotonic() - started

    for document in ready:
        path = Path(document.file.path)
        readers = document.metadata.get("pages_read_by") or {}
        started = time.monotonic()
        if document.mime_type.startswith("image/"):
            list(ocr_image_file(path))
            add("ocr", started)
            continue
        if not readers or "unstructured" in readers:
            try:
                partition(filename=str(path), strategy="fast", languages=["eng"])
            except Exception as exc:
                print(f"  raw partition failed on {document.path}: {type(exc).__name__}", flush=True)
            add("unstructured" if readers else "other formats", started)
        if "pdfium" in readers:
            started = time.monotonic()
            pdf = pypdfium2.PdfDocument(str(path))
            for number in _pages_of(readers["pdfium"]):
                page = pdf[number - 1]
                textpage = page.get_textpage()
                textpage.get_text_range()
                textpage.close()
                page.close()
            pdf.close()
            add("pdfium", started)
        if "ocr" in readers:
            started = time.monotonic()
            list(ocr_pdf_pages(path, _pages_of(readers["ocr"])))
            add("ocr", started)
    return seconds


def unstructured_every_file_seconds(ready) -> float:  # type: ignore[no-untyped-def]
    from unstructured.partition.auto import partition

    started = time.monotonic()
    for document in ready:
        if not document.mime_type.startswith("image/"):
            try:
                partition(filename=str(document.file.path), strategy="fast", languages=["eng"])
            except Exception as exc:
                print(f"  raw partition failed on {document.path}: {type(exc).__name__}", flush=True)
    return time.monotonic() - started


def raw_embed_seconds(chunks: list[str], batch: int) -> float:
    from sentence_transformers import SentenceTransformer

    from backends.embedder import embedding_model_path

    model = SentenceTransformer(str(embedding_model_path()), device="cpu", local_files_only=True)
    model.encode(chunks[:64], batch_size=batch)  # warm-up
    started = time.monotonic()
    model.encode(chunks, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
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


def raw_onnx_embed_seconds(chunks: list[str], batch: int) -> float:
    """The app's CPU encoder alone (ONNX Runtime on the exported model), on all cores."""
    from backends.embedder import _max_seq_length, embedding_model_path
    from backends.onnx_embedder import OnnxEmbedder

    path = embedding_model_path()
    model = OnnxEmbedder(path, batch_size=batch, max_tokens=_max_seq_length(path))
    model.encode(chunks[:64])  # warm-up
    started = time.monotonic()
    model.encode(chunks)
    return time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
