"""Stages 3 and 4 — embed and index: a document's stored chunks into the vector store.

Vectors are written under stable ids (`<document_id>:<ordinal>`) and the document's previous
vectors are replaced in the same call, so a re-run (a redelivered task, a re-index) converges to
one set of vectors per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from backends.embedder import get_embedder
from backends.vectorstore import VectorRecord, get_vector_store
from ingest.models import Chunk, Document
from ingest.pipeline.chunk import CONTEXT_LINE_CHARS

NO_PAGE = -1  # Chroma metadata cannot hold None


def embedding_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its context (document title and section) as a header line,
    then its text. A passage of a table rarely names the company, product or quarter it is about;
    the header carries that, so the vector does too. The stored and shown text stays the chunk's own."""
    line = chunk.context[:CONTEXT_LINE_CHARS]  # = chunk.context_line(title, section): the chunker left room for it
    return f"{line}\n{chunk.text}" if line else chunk.text


def embed_chunks(
    chunks: Sequence[Chunk],
    on_progress: Callable[[int, int], None] | None = None,
    threads: Callable[[], int] | None = None,
) -> list[list[float]]:
    """Vectors for the chunks, in their order. Texts are encoded shortest first, so each batch pads
    to similar lengths (as one big encode call would), in windows that allow progress reports;
    before each window `threads()` may say how many CPU threads the model should use."""
    embedder = get_embedder()
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].text))
    vectors: list[list[float]] = [[] for _ in chunks]
    window = max(embedder.batch_size * 16, 1)
    for start in range(0, len(order), window):
        indices = order[start : start + window]
        if threads is not None:
            embedder.set_threads(threads())
        for index, vector in zip(indices, embedder.encode([embedding_text(chunks[i]) for i in indices]), strict=True):
            vectors[index] = vector
        if on_progress:
            on_progress(min(start + window, len(order)), len(order))
    return vectors


def index_chunks(document: Document, chunks: Sequence[Chunk], vectors: Sequence[list[float]]) -> None:
    records = [
        VectorRecord(
            id=chunk.vector_id,
            embedding=vector,
            text=chunk.text,
            metadata={
                "document_id": document.pk,
                "collection_id": document.collection_id,
                "ordinal": chunk.ordinal,
                "page": chunk.page_number if chunk.page_number is not None else NO_PAGE,
            },
        )
        for chunk, vector in zip(chunks, vectors, strict=True)
    ]
    get_vector_store().replace_document(document.collection_id, document.pk, records)
