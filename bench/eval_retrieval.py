"""Retrieval evaluation: the app's own search, scored on a question set, and its latency at scale.

    bench/eval_retrieval [--questions FILE] [--docs FOLDER] [--keep DIR] [--k 10] [--scale 100000]
                         [--json FILE]

Why: hybrid retrieval (vectors + BM25, fused) must earn its complexity. This measures, on a
question set with known source documents, whether it beats each leg alone, through the code path
the API uses (`docanalyst.services.search.chunks_search` with `method=`), never a re-implementation.

What it does, in order:
1. Reads the questions: the qa-10q CSV by default (`Source Docs` holds file-name globs such as
   `*AAPL*`), or a JSONL file of `{"question": ..., "relevant": [{"document": NAME_OR_GLOB,
   "page": N}, ...]}` (page optional; when given, page-level metrics are reported too).
2. Starts its own Redis, Chroma server and Celery worker on a scratch directory (the helpers of
   `bench/ingest.py`) and ingests the documents folder through the real workers. With `--keep DIR`
   the scratch directory is DIR, and an ingestion already there is reused (re-runs take seconds).
3. Runs every question through dense, lexical and hybrid search (k=10) and prints, per method,
   document-level recall@1/5/10, hit@1/5/10, MRR, nDCG@10 and the p50/p95 latency of the calls,
   then whether the target holds: hybrid beats both legs on recall@1/5/10, MRR and nDCG@10, and
   its document recall@5 is at least 0.90.
4. Builds a synthetic corpus of `--scale` chunks (random unit vectors through the app's vector
   store, text sampled from the real chunks' words into the database, so the full-text index has
   realistic postings) in a collection of its own, and times the app's search there against the
   raw Chroma query for the same vectors and the raw encode of the question.

Document ranking: the order in which documents first appear in the hit list. recall@k is
|relevant ∩ top-k documents| / min(|relevant|, k), averaged over questions; hit@k is 1 when any
relevant document is in the top k; MRR is 1/rank of the first relevant document (0 if none);
nDCG@10 uses binary relevance with the ideal DCG over min(|relevant|, 10) relevant documents.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import fcntl
import fnmatch
import hashlib
import importlib.util
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from docanalyst.services.search import SearchFilters, SearchHit
    from ingest.models import Chunk, Collection, Document

ROOT = Path(__file__).resolve().parent.parent
QA_10Q = ROOT.parent / "shared" / "corpus" / "qa-10q" / "sec-10-q" / "data" / "v1"
METHODS = ("dense", "lexical", "hybrid")
CUTOFFS = (1, 5, 10)
TARGET_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")
TARGET_RECALL_AT_5 = 0.90
SYNTHETIC_PREFIX = "eval-synthetic-"
CHUNKS_PER_SYNTHETIC_DOCUMENT = 100
CHROMA_BATCH = 5000
SEED = 20240611
# A kept ingestion is reused only while this code is unchanged (see `stale_because`).
FINGERPRINTED = ("ingest/migrations", "ingest/pipeline", "ingest/services.py")
FINGERPRINT_FILE = "eval-ingest-fingerprint.json"
LOCK_FILE = "eval.lock"

T = TypeVar("T", bound=Hashable)


# --- question sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relevant:
    document: str  # a file name or a glob over file names
    page: int | None = None


@dataclass(frozen=True)
class Question:
    text: str
    relevant: tuple[Relevant, ...]
    kind: str = ""  # the set's question type, when it has one


def read_qa_csv(path: Path) -> list[Question]:
    """The qa-10q format: `Question`, `Source Docs` (comma-separated names or globs), `Question Type`."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    questions = []
    for row in rows:
        patterns = [p.strip() for p in (row.get("Source Docs") or "").split(",") if p.strip()]
        questions.append(
            Question(
                text=row["Question"].strip(),
                relevant=tuple(Relevant(document=p) for p in patterns),
                kind=(row.get("Question Type") or "").strip(),
            )
        )
    return questions


def read_jsonl(path: Path) -> list[Question]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            relevant = tuple(
                Relevant(document=str(r["document"]), page=int(r["page"]) if r.get("page") is not None else None)
                for r in item["relevant"]
            )
            questions.append(Question(text=str(item["question"]).strip(), relevant=relevant, kind=item.get("type", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemExit(f"{path}:{number}: not a question line ({type(exc).__name__}: {exc})") from exc
    return questions


def read_questions(path: Path) -> list[Question]:
    return read_jsonl(path) if path.suffix.lower() in (".jsonl", ".json") else read_qa_csv(path)


# --- relevance judgements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """A question with its relevant documents resolved to the ingested, ready ones."""

    question: Question
    documents: frozenset[int]
    pages: frozenset[tuple[int, int]]
    not_ready: tuple[str, ...]  # relevant documents that exist but did not become ready
    unmatched: tuple[str, ...]  # names or globs that match no document at all


def name_matches(pattern: str, document: Document) -> bool:
    pattern = pattern.strip().casefold()
    names = {document.original_name.casefold(), document.path.casefold(), Path(document.original_name).stem.casefold()}
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


def judge(questions: Sequence[Question], documents: Sequence[Document]) -> list[Judged]:
    from ingest.models import Document

    judged = []
    for question in questions:
        ready: set[int] = set()
        pages: set[tuple[int, int]] = set()
        not_ready: set[str] = set()
        unmatched = []
        for relevant in question.relevant:
            matched = [d for d in documents if name_matches(relevant.document, d)]
            if not matched:
                unmatched.append(relevant.document)
            for document in matched:
                if document.status != Document.Status.READY:
                    not_ready.add(f"{document.original_name} ({document.status})")
                    continue
                ready.add(document.pk)
                if relevant.page is not None:
                    pages.add((document.pk, relevant.page))
        judged.append(Judged(question, frozenset(ready), frozenset(pages), tuple(sorted(not_ready)), tuple(unmatched)))
    return judged


# --- metrics -------------------------------------------------------------------------------------


def first_appearances(items: Iterable[T]) -> list[T]:
    seen: set[T] = set()
    ranked: list[T] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            ranked.append(item)
    return ranked


def ranking_metrics(ranked: Sequence[Hashable], relevant: frozenset[Any]) -> dict[str, float]:
    """recall@k, hit@k, MRR and nDCG@10 of one ranking against a non-empty relevant set."""
    scores: dict[str, float] = {}
    for k in CUTOFFS:
        found = sum(1 for item in ranked[:k] if item in relevant)
        scores[f"recall@{k}"] = found / min(len(relevant), k)
    for k in CUTOFFS:
        scores[f"hit@{k}"] = 1.0 if any(item in relevant for item in ranked[:k]) else 0.0
    first = next((rank for rank, item in enumerate(ranked, start=1) if item in relevant), None)
    scores["mrr"] = 1.0 / first if first else 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(ranked[:10], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1))
    scores["ndcg@10"] = dcg / ideal
    return scores


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {name: sum(row[name] for row in rows) / len(rows) for name in rows[0]} if rows else {}


def latency(samples_ms: Sequence[float]) -> dict[str, float]:
    if not samples_ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0, "n": 0}
    values = np.asarray(samples_ms)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "mean_ms": float(values.mean()),
        "n": len(samples_ms),
    }


def metric_line(name: str, metrics: dict[str, float], timing: dict[str, float] | None = None) -> str:
    parts = [f"{key}={value:.3f}" for key, value in metrics.items()]
    if timing is not None:
        parts += [f"p50_ms={timing['p50_ms']:.1f}", f"p95_ms={timing['p95_ms']:.1f}"]
    return " ".join([name, *parts])


# --- the stack -----------------------------------------------------------------------------------


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


def stop(children: Sequence[subprocess.Popen[bytes]]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)


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
        stack.bench.wait_for(lambda: "ready." in worker_log.read_text(errors="replace"), 120, "the Celery worker")
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


# --- quality over the question set ---------------------------------------------------------------


@dataclass
class MethodResult:
    document_metrics: dict[str, float]
    page_metrics: dict[str, float]
    timing: dict[str, float]
    per_question: list[dict[str, Any]] = field(default_factory=list)


def timed_search(user: User, query: str, k: int, method: str, filters: SearchFilters) -> tuple[list[SearchHit], float]:
    from docanalyst.services.search import chunks_search

    started = time.perf_counter()
    hits = chunks_search(user=user, query=query, k=k, method=method, filters=filters)
    return hits, (time.perf_counter() - started) * 1000


def evaluate_method(method: str, judged: Sequence[Judged], user: User, k: int, filters: SearchFilters) -> MethodResult:
    from tqdm import tqdm

    timed_search(user, judged[0].question.text, k, method, filters)  # warm-up (model load, caches)
    document_rows, page_rows, samples, details = [], [], [], []
    for item in tqdm(judged, desc=method, unit="q", file=sys.stderr):
        hits, elapsed = timed_search(user, item.question.text, k, method, filters)
        samples.append(elapsed)
        documents = first_appearances(hit.chunk.document_id for hit in hits)
        document_rows.append(ranking_metrics(documents, item.documents))
        if item.pages:
            pages = first_appearances((hit.chunk.document_id, hit.page) for hit in hits if hit.page is not None)
            page_rows.append(ranking_metrics(pages, item.pages))
        names = {hit.chunk.document_id: hit.document.original_name for hit in hits}
        details.append(
            {
                "documents": [names[d] for d in documents],
                "first_relevant_rank": next((r for r, d in enumerate(documents, 1) if d in item.documents), None),
                "ms": round(elapsed, 2),
            }
        )
    return MethodResult(mean_metrics(document_rows), mean_metrics(page_rows), latency(samples), details)


# --- the synthetic corpus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """Words, chunk lengths and section headings of real chunks, to sample synthetic chunks whose
    full-text postings look like real ones."""

    words: np.ndarray
    weights: np.ndarray
    lengths: np.ndarray
    sections: np.ndarray

    @classmethod
    def from_chunks(cls, chunks: Iterable[tuple[str, str]]) -> Vocabulary:
        """From `(text, section)` pairs."""
        counts: Counter[str] = Counter()
        lengths, sections = [], []
        for text, section in chunks:
            words = text.split()
            counts.update(words)
            lengths.append(len(words))
            sections.append(section)
        if not counts:
            raise SystemExit("no chunk text to draw a synthetic vocabulary from")
        words_, frequencies = zip(*counts.items(), strict=True)
        weights = np.asarray(frequencies, dtype=np.float64)
        return cls(
            np.asarray(words_, dtype=object),
            weights / weights.sum(),
            np.asarray(lengths),
            np.asarray(sections, dtype=object),
        )

    def section(self, rng: np.random.Generator) -> str:
        return str(self.sections[rng.integers(len(self.sections))])

    def texts(self, rng: np.random.Generator, count: int) -> list[str]:
        lengths = rng.choice(self.lengths, size=count)
        drawn = self.words[rng.choice(len(self.words), size=int(lengths.sum()), p=self.weights)]
        texts, position = [], 0
        for length in lengths:
            texts.append(" ".join(drawn[position : position + length]))
            position += length
        return texts


def random_unit_vectors(rng: np.random.Generator, count: int, dimension: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def drop_collection(collection: Collection) -> None:
    from docanalyst.backends.vectorstore import get_vector_store
    from ingest.models import Chunk, Document

    Chunk.objects.filter(document__collection=collection).delete()
    Document.objects.filter(collection=collection).delete()
    get_vector_store().drop_collection(collection.pk)
    collection.delete()


def drop_synthetic_collections() -> None:
    """Before the quality phase: the full-text engine's term statistics (BM25's IDF) are global,
    so a synthetic corpus left in a kept database would change the lexical scores of the real one."""
    from ingest.models import Collection

    for synthetic in Collection.objects.filter(name__startswith=SYNTHETIC_PREFIX):
        drop_collection(synthetic)


def synthetic_collection(size: int, vocabulary: Callable[[], Vocabulary]) -> tuple[Collection, str]:
    """The synthetic collection of `size` chunks, built for the scale phase. (The quality phase
    drops synthetic collections first — BM25 statistics are global — so a kept scratch directory
    only holds one between the scale phase and the next run; reuse covers that window.)"""
    from docanalyst.backends.vectorstore import get_vector_store
    from ingest.models import Chunk, Collection

    store = get_vector_store()
    name = f"{SYNTHETIC_PREFIX}{size}"
    for other in Collection.objects.filter(name__startswith=SYNTHETIC_PREFIX):
        complete = (
            other.name == name
            and Chunk.objects.filter(document__collection=other).count() == size
            and store.count(other.pk) == size
        )
        if complete:
            return other, "reused"
        drop_collection(other)
    started = time.monotonic()
    collection = Collection.objects.create(name=name, description="bench/eval_retrieval synthetic corpus")
    database_s, chroma_s = build_synthetic(collection, size, vocabulary())
    return collection, (
        f"built in {time.monotonic() - started:.1f} s (database rows + full-text index {database_s:.1f} s, "
        f"Chroma {chroma_s:.1f} s)"
    )


def build_synthetic(collection: Collection, size: int, vocabulary: Vocabulary) -> tuple[float, float]:
    """Documents of `CHUNKS_PER_SYNTHETIC_DOCUMENT` chunks each: rows through the ORM (the full-text
    triggers index them), vectors through the app's vector store under the pipeline's ids and
    metadata. Returns the seconds spent on each side."""
    from django.utils import timezone
    from tqdm import tqdm

    from docanalyst.backends.embedder import get_embedder
    from docanalyst.backends.vectorstore import VectorRecord, get_vector_store
    from ingest.models import Chunk, Document
    from ingest.pipeline.index import NO_PAGE

    dimension = get_embedder().dimension
    rng = np.random.default_rng(SEED)
    store = get_vector_store()
    now = timezone.now()
    sizes = [
        min(CHUNKS_PER_SYNTHETIC_DOCUMENT, size - start) for start in range(0, size, CHUNKS_PER_SYNTHETIC_DOCUMENT)
    ]
    # Front matter for each document (its own sample of the same words), so the front-matter prior
    # searches 1,000 covers; a separate generator leaves the chunk texts as they were.
    covers = vocabulary.texts(np.random.default_rng(SEED + 1), len(sizes))
    started = time.monotonic()
    documents = Document.objects.bulk_create(
        [
            Document(
                collection=collection,
                title=f"Synthetic {number:06d}",
                original_name=f"synthetic-{number:06d}.txt",
                path=f"synthetic-{number:06d}.txt",
                file=f"synthetic/synthetic-{number:06d}.txt",
                sha256=hashlib.sha256(f"{collection.pk}:{number}".encode()).hexdigest(),
                mime_type="text/plain",
                size_bytes=0,
                page_count=math.ceil(count / 10),
                chunk_count=count,
                status=Document.Status.READY,
                stage="ready",
                progress=100,
                ready_at=now,
                front_matter=covers[number],
            )
            for number, count in enumerate(sizes)
        ],
        batch_size=500,
    )
    database_s = time.monotonic() - started
    chroma_s = 0.0
    per_batch = max(1, CHROMA_BATCH // CHUNKS_PER_SYNTHETIC_DOCUMENT)
    with tqdm(total=size, desc="synthetic corpus", unit="chunk", file=sys.stderr) as bar:
        for start in range(0, len(documents), per_batch):
            group = list(zip(documents[start : start + per_batch], sizes[start : start + per_batch], strict=True))
            count = sum(n for _, n in group)
            texts = iter(vocabulary.texts(rng, count))
            chunks = {
                document.pk: [
                    synthetic_chunk(document, ordinal, next(texts), vocabulary.section(rng)) for ordinal in range(n)
                ]
                for document, n in group
            }
            began = time.monotonic()
            Chunk.objects.bulk_create([c for per_document in chunks.values() for c in per_document], batch_size=500)
            database_s += time.monotonic() - began
            vectors = iter(random_unit_vectors(rng, count, dimension).tolist())
            began = time.monotonic()
            for document_id, per_document in chunks.items():
                records = [
                    VectorRecord(
                        id=chunk.vector_id,
                        embedding=next(vectors),
                        text=chunk.text,
                        metadata={
                            "document_id": document_id,
                            "collection_id": collection.pk,
                            "ordinal": chunk.ordinal,
                            "page": chunk.page_number if chunk.page_number is not None else NO_PAGE,
                        },
                    )
                    for chunk in per_document
                ]
                store.replace_document(collection.pk, document_id, records)
            chroma_s += time.monotonic() - began
            bar.update(count)
    return database_s, chroma_s


def synthetic_chunk(document: Document, ordinal: int, text: str, section: str) -> Chunk:
    """A chunk row as the pipeline stores one (its searchable context too, where the model has it)."""
    from ingest.models import Chunk

    chunk = Chunk(
        document=document,
        ordinal=ordinal,
        text=text,
        page_number=ordinal // 10 + 1,
        section=section,
        element_types=["NarrativeText"],
        token_count=len(text.split()),
    )
    context_for = getattr(Chunk, "context_for", None)
    if context_for is not None:
        chunk.context = context_for(document.title, section)
    return chunk


def time_scale(collection: Collection, queries: Sequence[str], user: User, k: int) -> dict[str, dict[str, float]]:
    """Per query, interleaved so that a noisy machine hits every variant alike: the raw encode, the
    raw Chroma query (n_results=k, and the app's own request: its candidate depth with metadatas
    and distances), and the app's dense, lexical and hybrid search on the synthetic collection."""
    from django.conf import settings
    from tqdm import tqdm

    from docanalyst.backends.embedder import get_embedder
    from docanalyst.backends.vectorstore import get_vector_store
    from docanalyst.services.search import SearchFilters

    store = get_vector_store()
    chroma = store.client.get_collection(store.collection_name(collection.pk), embedding_function=None)
    embedder = get_embedder()
    filters = SearchFilters(collection_ids=[collection.pk])
    depth = max(settings.SEARCH_CANDIDATES, 4 * k)
    vectors = embedder.encode(list(queries))  # precomputed: the raw query times Chroma alone

    def raw_encode(i: int) -> None:
        embedder.encode([queries[i]])

    def raw_chroma(i: int) -> None:
        chroma.query(query_embeddings=[vectors[i]], n_results=k)

    def raw_chroma_app_request(i: int) -> None:
        chroma.query(query_embeddings=[vectors[i]], n_results=depth, include=["metadatas", "distances"])

    variants: dict[str, Callable[[int], object]] = {
        "raw-encode": raw_encode,
        f"raw-chroma(n_results={k})": raw_chroma,
        f"raw-chroma(n_results={depth},metadatas+distances)": raw_chroma_app_request,
    }
    for method in METHODS:
        variants[method] = lambda i, m=method: timed_search(user, queries[i], k, m, filters)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run(0)  # warm-up
    for i in tqdm(range(len(queries)), desc="scale latency", unit="q", file=sys.stderr):
        for name, run in variants.items():
            started = time.perf_counter()
            run(i)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: latency(values) for name, values in samples.items()}


# --- reporting -----------------------------------------------------------------------------------


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

    from docanalyst.backends.embedder import get_embedder

    embedder = get_embedder()
    return (
        f"embedder: {embedder.name} ({embedder.dimension} dimensions) on {settings.EMBEDDING_DEVICE}, "
        f"torch threads {torch.get_num_threads()}; load average now "
        + " ".join(f"{value:.2f}" for value in os.getloadavg())
    )


def target_verdict(results: dict[str, MethodResult]) -> tuple[bool, str]:
    hybrid = results["hybrid"].document_metrics
    failures = [
        f"{metric} {hybrid[metric]:.3f} <= {other} {results[other].document_metrics[metric]:.3f}"
        for other in ("dense", "lexical")
        for metric in TARGET_METRICS
        if not hybrid[metric] > results[other].document_metrics[metric]
    ]
    if hybrid["recall@5"] < TARGET_RECALL_AT_5:
        failures.append(f"hybrid recall@5 {hybrid['recall@5']:.3f} < {TARGET_RECALL_AT_5:.2f}")
    met = not failures
    rule = (
        f"hybrid > dense and > lexical on {', '.join(TARGET_METRICS)} (document level), "
        f"and hybrid recall@5 >= {TARGET_RECALL_AT_5:.2f}"
    )
    return met, f"target {'MET' if met else 'NOT MET'} ({rule})" + ("" if met else ": " + "; ".join(failures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=QA_10Q / "qna_data.csv", help="CSV (qa-10q) or JSONL")
    parser.add_argument("--docs", type=Path, help="the documents folder (default: `docs` beside the questions)")
    parser.add_argument("--keep", type=Path, help="scratch directory to keep, and to reuse if it holds an ingestion")
    parser.add_argument("--k", type=int, default=10, help="hits asked of each search (default 10)")
    parser.add_argument("--scale", type=int, default=100_000, help="synthetic chunks for the latency test (0: skip)")
    parser.add_argument("--scale-queries", type=int, default=100, help="questions timed at scale (default 100)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes for ingestion (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here, as JSON")
    args = parser.parse_args()
    questions_path = args.questions.resolve()
    folder = (args.docs or questions_path.parent / "docs").resolve()
    if not questions_path.is_file():
        raise SystemExit(f"{questions_path} is not a file")
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder (give --docs)")

    print(machine_line(), flush=True)
    scratch = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="docanalyst-eval-"))
    scratch.mkdir(parents=True, exist_ok=True)
    _lock = lock_scratch(scratch)  # held until the process ends
    stale = stale_because(scratch)
    if stale:
        print(f"scratch {scratch}: the kept database is stale ({'; '.join(stale)}): ingesting afresh", flush=True)
        clear_scratch(scratch)
    fingerprint = code_fingerprint()  # before the workers load the code
    bench = load_bench_ingest()
    env = bench.configure(scratch)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    exit_on_sigterm()
    children = bench.start_services(scratch)
    try:
        return evaluate(args, questions_path, folder, Stack(scratch, bench, env, fingerprint))
    finally:
        stop(children)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def evaluate(args: argparse.Namespace, questions_path: Path, folder: Path, stack: Stack) -> int:
    report: dict[str, Any] = {"machine": machine_line(), "scratch": str(stack.scratch), "k": args.k, "phases_s": {}}
    questions = read_questions(questions_path)
    collection, documents = ingest_phase(args, folder, stack, report)
    judged = judge_phase(questions, questions_path, documents, report)
    user = eval_user()
    grant_read(user, collection)
    drop_synthetic_collections()
    quality_phase(judged, collection, user, args.k, report)
    if args.scale > 0:
        scale_phase(args.scale, judged[: args.scale_queries], documents, user, args.k, report)
    phases = report["phases_s"]
    print("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


def ingest_phase(
    args: argparse.Namespace,
    folder: Path,
    stack: Stack,
    report: dict[str, Any],
) -> tuple[Collection, list[Document]]:
    """The folder's collection, ingested now or reused from a kept scratch directory."""
    from ingest import services
    from ingest.models import Chunk, Document

    started = time.monotonic()
    collection = services.collection_get_or_create(name=collection_name_for(folder))
    existing = Document.objects.filter(collection=collection)
    if existing.filter(status__in=Document.ACTIVE_STATUSES).exists():
        raise SystemExit(
            f"{stack.scratch} holds an unfinished ingestion of {folder}: remove the directory and run again"
        )
    if existing.exists():
        how = f"reused from {stack.scratch}"
    else:
        print(f"ingesting {folder} through {args.concurrency} worker processes", flush=True)
        ingest_folder(stack, folder, collection, args.concurrency)
        (stack.scratch / FINGERPRINT_FILE).write_text(json.dumps(stack.fingerprint, indent=1))
        how = f"ingested in {time.monotonic() - started:.1f} s"
    report["phases_s"]["ingest"] = round(time.monotonic() - started, 1)
    documents = list(Document.objects.filter(collection=collection, is_latest=True).order_by("original_name"))
    ready = [d for d in documents if d.status == Document.Status.READY]
    failed = [d for d in documents if d.status != Document.Status.READY]
    chunks = Chunk.objects.filter(document__in=ready).count()
    print(f"documents: {len(ready)} ready, {len(failed)} failed, {chunks} chunks ({how}; folder {folder})", flush=True)
    for document in failed:
        print(f"  failed: {document.original_name}: {document.status} {document.error[:200]}", flush=True)
    report["ingest"] = {
        "folder": str(folder),
        "how": how,
        "ready": len(ready),
        "failed": [{"name": d.original_name, "status": d.status, "error": d.error} for d in failed],
        "chunks": chunks,
    }
    return collection, documents


def judge_phase(
    questions: Sequence[Question], path: Path, documents: Sequence[Document], report: dict[str, Any]
) -> list[Judged]:
    """The questions that can be scored; the others are listed with the reason, never dropped silently."""
    judged_all = judge(questions, documents)
    judged = [j for j in judged_all if j.documents]
    skipped = [j for j in judged_all if not j.documents]
    partial = [j for j in judged if j.not_ready or j.unmatched]
    with_pages = [j for j in judged if j.pages]
    print(
        f"questions: {len(questions)} read from {path}; {len(judged)} with >=1 relevant document ingested; "
        f"{len(skipped)} skipped (no relevant document ready); {len(partial)} scored on part of their relevant "
        f"documents; {len(with_pages)} with relevant pages",
        flush=True,
    )
    for label, items in (("skipped", skipped), ("partly scored", partial)):
        for item in items:
            why = [*(f"not ready: {n}" for n in item.not_ready), *(f"no match: {u}" for u in item.unmatched)]
            print(f"  {label}: {item.question.text[:100]!r}: {'; '.join(why)}", flush=True)
    if not judged:
        raise SystemExit("no question has a relevant document ingested: nothing to score")
    report["questions"] = {
        "file": str(path),
        "read": len(questions),
        "scored": len(judged),
        "skipped": [{"question": j.question.text, "not_ready": j.not_ready, "unmatched": j.unmatched} for j in skipped],
        "partly_scored": len(partial),
        "with_pages": len(with_pages),
    }
    return judged


def quality_phase(judged: Sequence[Judged], collection: Collection, user: User, k: int, report: dict[str, Any]) -> None:
    """Every question through each method, searching the evaluated collection only."""
    from docanalyst.services.search import SearchFilters
    from ingest.models import Chunk, Document

    print(
        f"metrics: document level, k={k} hits per search, documents ranked by first appearance in the hit list; "
        f"recall@k = |relevant ∩ top-k documents| / min(|relevant|, k), hit@k = any relevant document in the "
        f"top k, mrr = 1/rank of the first relevant document (0 if none), ndcg@10 binary with ideal DCG over "
        f"min(|relevant|, 10); latency = wall time of each chunks_search call after one warm-up "
        f"(the database holds {Chunk.objects.count()} chunks in all)",
        flush=True,
    )
    started = time.monotonic()
    filters = SearchFilters(collection_ids=[collection.pk])
    results = {method: evaluate_method(method, judged, user, k, filters) for method in METHODS}
    report["phases_s"]["quality"] = round(time.monotonic() - started, 1)
    for method, result in results.items():
        print(metric_line(method, result.document_metrics, result.timing), flush=True)
    for method, result in results.items():
        empty = sum(1 for row in result.per_question if not row["documents"])
        if empty:
            print(f"  warning: {method} returned no hit at all for {empty} of {len(judged)} questions", flush=True)
    with_pages = sum(1 for item in judged if item.pages)
    if with_pages:
        print(f"page level, over the {with_pages} questions with relevant pages:", flush=True)
        for method, result in results.items():
            print(metric_line(f"{method} page-level", result.page_metrics), flush=True)
    met, verdict = target_verdict(results)
    print(verdict, flush=True)
    print(embedder_line(), flush=True)
    names = dict(Document.objects.filter(collection=collection).values_list("pk", "original_name"))
    report["methods"] = {
        method: {"documents": r.document_metrics, "pages": r.page_metrics, "latency": r.timing}
        for method, r in results.items()
    }
    report["target"] = {"met": met, "verdict": verdict}
    report["by_question_type"] = by_question_type(judged, results)
    report["per_question"] = [
        {
            "question": item.question.text,
            "type": item.question.kind,
            "relevant": sorted(names[pk] for pk in item.documents),
            **{method: results[method].per_question[i] for method in METHODS},
        }
        for i, item in enumerate(judged)
    ]


def scale_phase(
    size: int, judged: Sequence[Judged], documents: Sequence[Document], user: User, k: int, report: dict[str, Any]
) -> None:
    """The synthetic corpus (built or reused; its words are drawn from the evaluated documents'
    chunks), then the latencies on it."""
    from ingest.models import Chunk

    started = time.monotonic()

    def vocabulary() -> Vocabulary:
        chunks = Chunk.objects.filter(document__in=[d.pk for d in documents]).values_list("text", "section")
        return Vocabulary.from_chunks(chunks.iterator())

    synthetic, how = synthetic_collection(size, vocabulary)
    grant_read(user, synthetic)
    report["phases_s"]["synthetic build"] = round(time.monotonic() - started, 1)
    print(
        f"scale: {size} synthetic chunks ({math.ceil(size / CHUNKS_PER_SYNTHETIC_DOCUMENT)} documents, random "
        f"unit vectors, text sampled from the real chunks' words), {how}",
        flush=True,
    )
    started = time.monotonic()
    queries = [item.question.text for item in judged]
    timings = time_scale(synthetic, queries, user, k)
    report["phases_s"]["scale latency"] = round(time.monotonic() - started, 1)
    report["scale"] = {"chunks": size, "how": how, "queries": len(queries), "latency": timings}
    print_scale(timings, len(queries))


def by_question_type(judged: Sequence[Judged], results: dict[str, MethodResult]) -> dict[str, Any]:
    kinds = sorted({item.question.kind for item in judged})
    breakdown: dict[str, Any] = {}
    for kind in kinds:
        indices = [i for i, item in enumerate(judged) if item.question.kind == kind]
        breakdown[kind or "(none)"] = {
            "questions": len(indices),
            **{
                method: {
                    "first_relevant_in_top5": sum(
                        1
                        for i in indices
                        if (rank := results[method].per_question[i]["first_relevant_rank"]) is not None and rank <= 5
                    )
                }
                for method in METHODS
            },
        }
    return breakdown


def print_scale(timings: dict[str, dict[str, float]], queries: int) -> None:
    encode = timings["raw-encode"]
    raw_name = next(name for name in timings if name.startswith("raw-chroma(n_results") and "metadatas" not in name)
    raw = timings[raw_name]
    for name, timing in timings.items():
        if name.startswith("raw"):
            print(
                f"scale {name} p50_ms={timing['p50_ms']:.1f} p95_ms={timing['p95_ms']:.1f} over {queries} queries",
                flush=True,
            )
    for method in METHODS:
        timing = timings[method]
        parts = [
            f"scale {method} p50_ms={timing['p50_ms']:.1f} p95_ms={timing['p95_ms']:.1f}",
            f"ratio_vs_raw_chroma p50={timing['p50_ms'] / raw['p50_ms']:.2f} "
            f"p95={timing['p95_ms'] / raw['p95_ms']:.2f}",
        ]
        if method != "lexical":  # the lexical leg encodes nothing
            parts.append(
                f"ratio_vs_raw_chroma+encode p50={timing['p50_ms'] / (raw['p50_ms'] + encode['p50_ms']):.2f} "
                f"p95={timing['p95_ms'] / (raw['p95_ms'] + encode['p95_ms']):.2f}"
            )
        print(" ".join(parts), flush=True)


if __name__ == "__main__":
    sys.exit(main())
