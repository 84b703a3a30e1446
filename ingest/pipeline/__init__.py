"""The ingestion pipeline, as small stages with a written contract.

    classify(path, original_name) -> FileKind                       ingest.pipeline.formats
        The document's type from its content (not its name); `PermanentIngestError` for
        encrypted, unsupported or empty files.

    parse(path, original_name, workdir) -> ParsedDocument           ingest.pipeline.parse
        Text elements in reading order, each with its page number (None where the format has
        no pages), element type and the section heading it falls under; a PDF page with a usable
        text layer is read by PDFium (ingest.pipeline.pdf_text), one whose layer is unusable by
        `unstructured`, one without a text layer by OCR (ingest.pipeline.ocr), and
        `metadata["pages_read_by"]` names the reader of every page; an e-mail's attachments are written to
        `workdir` and listed. Raises `PermanentIngestError` with a reason a person can read for
        empty, unsupported, corrupt or text-less files. Never returns an empty document silently.

    chunk(elements, tokens, target_tokens) -> list[ChunkDraft]      ingest.pipeline.chunk
        Structure-aware chunks: a chunk never spans two pages or two sections and never
        exceeds the embedder's window (counted with the embedder's own tokenizer, special
        tokens included); an over-long element is split at sentence, then word boundaries.
        Nothing is truncated. `pages(chunks) -> list[PageDraft]`: the units search ranks — the
        chunks of one page together, or each chunk alone for formats without pages — stored
        with the chunks.

    embed_chunks(chunks, on_progress, threads) -> vectors           ingest.pipeline.index
        Batched, normalised embeddings of each chunk with its context (title, section) as a
        header line (`embedding_text`), by backends.embedder.

    index_chunks(document, chunks, vectors)                         ingest.pipeline.index
        Replaces the document's vectors in the vector store with exactly these, under stable
        ids `<document_id>:<ordinal>`; running it twice leaves the same state.

The stages are functions of their inputs; `ingest.stages` runs them for one document,
`ingest.services` moves its row from one stage to the next with conditional updates and records
failures on it, and the Celery tasks in `ingest.tasks` only call those with an id.
"""


class PermanentIngestError(Exception):
    """The file itself is the problem (empty, unsupported, corrupt): retrying will not help."""
