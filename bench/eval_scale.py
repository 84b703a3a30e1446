"""The latency half of `bench/eval_retrieval.py`: a synthetic corpus of N chunks (random unit
vectors in Chroma, text sampled from the real chunks' words into the database, pages as the chunk
stage writes them, so the full-text index has realistic postings) in a collection of its own, and
the app's search timed on it against the raw Chroma query and the raw encode of the question."""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from eval_sets import latency

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from ingest.models import Chunk, Collection, Document

METHODS = ("dense", "lexical", "hybrid")
SEQUENTIAL = "hybrid-legs-one-after-the-other"
SYNTHETIC_PREFIX = "eval-synthetic-"
CHUNKS_PER_SYNTHETIC_DOCUMENT = 100
CHROMA_BATCH = 5000
SEED = 20240611


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
    from backends.vectorstore import get_vector_store
    from ingest.models import Chunk, Document

    Chunk.objects.filter(document__collection=collection).delete()
    Document.objects.filter(collection=collection).delete()
    get_vector_store().drop_collection(collection.pk)
    collection.delete()


def synthetic_collection(size: int, vocabulary: Callable[[], Vocabulary]) -> tuple[Collection, str]:
    """The synthetic collection of `size` chunks, built for the scale phase, or reused from a kept
    scratch directory (search statistics are taken over the collections searched, so it does not
    change the quality figures of the real collections beside it)."""
    from backends.vectorstore import get_vector_store
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

    from backends.embedder import get_embedder
    from backends.vectorstore import VectorRecord, get_vector_store
    from ingest.models import Document
    from ingest.pipeline.index import NO_PAGE

    dimension = get_embedder().dimension
    rng = np.random.default_rng(SEED)
    store = get_vector_store()
    now = timezone.now()
    sizes = [
        min(CHUNKS_PER_SYNTHETIC_DOCUMENT, size - start) for start in range(0, size, CHUNKS_PER_SYNTHETIC_DOCUMENT)
    ]
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
            store_rows([c for per_document in chunks.values() for c in per_document])
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


def store_rows(chunks: list[Chunk]) -> None:
    """Pages and chunks as the chunk stage writes them (`ingest.pipeline.chunk.pages`)."""
    from ingest.models import Chunk, Page
    from ingest.pipeline.chunk import pages

    by_document: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        by_document.setdefault(chunk.document_id, []).append(chunk)
    drafts = {document_id: pages(members) for document_id, members in by_document.items()}
    rows = Page.objects.bulk_create(
        [
            Page(document_id=document_id, number=d.number, ordinal=d.ordinal, text=d.text, words=d.words)
            for document_id, per_document in drafts.items()
            for d in per_document
        ],
        batch_size=500,
    )
    made = iter(rows)
    for document_id, per_document in drafts.items():
        for draft in per_document:
            row = next(made)
            for ordinal in draft.ordinals:
                by_document[document_id][ordinal].page_id = row.pk
    Chunk.objects.bulk_create(chunks, batch_size=500)


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
    chunk.context = Chunk.context_for(document.title, section)
    return chunk


def time_scale(
    collection: Collection, queries: Sequence[str], user: User, k: int, methods: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per query, interleaved so that a noisy machine hits every variant alike: the raw encode, the
    raw Chroma query (n_results=k, and the app's own request: its candidate depth with metadatas
    and distances), and the app's dense, lexical and hybrid search on the synthetic collection."""
    from django.conf import settings
    from tqdm import tqdm

    from backends.embedder import get_embedder
    from backends.vectorstore import get_vector_store
    from search.retrieval import SearchFilters, chunks_search

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
    for method in methods:
        variants[method] = lambda i, m=method: chunks_search(
            user=user, query=queries[i], k=k, method=m, filters=filters
        )

    def hybrid_sequential(i: int) -> None:
        """The same search with its two legs one after the other (SEARCH_DENSE_THREADS=0)."""
        threads, settings.SEARCH_DENSE_THREADS = settings.SEARCH_DENSE_THREADS, 0
        try:
            chunks_search(user=user, query=queries[i], k=k, method="hybrid", filters=filters)
        finally:
            settings.SEARCH_DENSE_THREADS = threads

    if "hybrid" in methods:
        variants[SEQUENTIAL] = hybrid_sequential
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run(0)  # warm-up
    for i in tqdm(range(len(queries)), desc="scale latency", unit="q", file=sys.stderr):
        for name, run in variants.items():
            started = time.perf_counter()
            run(i)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: latency(values) for name, values in samples.items()}


def scale_phase(
    size: int, queries: Sequence[str], documents: Sequence[Document], user: User, k: int, report: dict[str, Any]
) -> Collection:
    """The synthetic corpus (built or reused; its words are drawn from the evaluated documents'
    chunks), then the latencies on it."""
    from ingest.models import Chunk

    started = time.monotonic()

    def vocabulary() -> Vocabulary:
        chunks = Chunk.objects.filter(document__in=[d.pk for d in documents]).values_list("text", "section")
        return Vocabulary.from_chunks(chunks.iterator())

    synthetic, how = synthetic_collection(size, vocabulary)
    from ingest.models import CollectionAccess

    CollectionAccess.objects.get_or_create(collection=synthetic, user=user)
    report["phases_s"]["synthetic build"] = round(time.monotonic() - started, 1)
    print(
        f"scale: {size} synthetic chunks ({math.ceil(size / CHUNKS_PER_SYNTHETIC_DOCUMENT)} documents, random "
        f"unit vectors, text sampled from the real chunks' words), {how}",
        flush=True,
    )
    started = time.monotonic()
    timings = time_scale(synthetic, queries, user, k, METHODS)
    report["phases_s"]["scale latency"] = round(time.monotonic() - started, 1)
    report["scale"] = {"chunks": size, "how": how, "queries": len(queries), "latency": timings}
    print_scale(timings, len(queries))
    return synthetic


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
    for method in (*METHODS, SEQUENTIAL):
        if method not in timings:
            continue
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
