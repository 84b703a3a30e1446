"""The ingestion pipeline, as small stages with a written contract.

    parse(path, mime_type) -> ParsedDocument        ingest.pipeline.parse
        Text elements in reading order, each with its page number (None where the format has
        no pages), element type and the section heading it falls under. Raises
        `PermanentIngestError` with a reason a person can read for empty, unsupported,
        corrupt or text-less files. Never returns an empty document silently.

    chunk(parsed, tokens) -> list[ChunkDraft]       ingest.pipeline.chunk
        Structure-aware chunks: a chunk never spans two pages or two sections and never
        exceeds the embedder's window (counted with the embedder's own tokenizer, special
        tokens included); an over-long element is split at sentence, then word boundaries.
        Nothing is truncated. `pages(chunks)`: the units lexical search ranks — the chunks of one
        page together, or each chunk alone for formats without pages — stored with the chunks.

    embed(texts) -> vectors                         docanalyst.backends.embedder
        Batched, normalised embeddings.

    index(document, chunks, vectors)                ingest.pipeline.index
        Replaces the document's vectors in the vector store with exactly these, under stable
        ids `<document_id>:<ordinal>`; running it twice leaves the same state.

Stages are pure functions of their inputs; the Celery tasks in `ingest.tasks` only move a
document row from one stage to the next and record failures on it.
"""


class PermanentIngestError(Exception):
    """The file itself is the problem (empty, unsupported, corrupt): retrying will not help."""
