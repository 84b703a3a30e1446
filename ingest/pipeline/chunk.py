"""Stage 2 — chunk: elements to embedder-sized passages (see the package contract).

Chunks follow the document's structure: consecutive elements of one page and one section are
packed together up to a target size; a new page or heading starts a new chunk, so a citation
always names one page. Sizes are counted with the embedder's own tokenizer, so no chunk is
silently truncated by the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from backends.embedder import TokenCounter
from backends.lexical import tokens as lexical_tokens
from ingest.models import Chunk
from ingest.pipeline.parse import ParsedElement

SPECIAL_TOKENS = 2  # [CLS] and [SEP], counted by the tokenizer on every encode
CONTEXT_LINE_CHARS = 120


def context_line(title: str, section: str) -> str:
    """The header line embedded above a chunk's text (`ingest.pipeline.index.embedding_text`):
    the chunk's stored context (its document's title and its section), cut to 120 characters."""
    return Chunk.context_for(title, section)[:CONTEXT_LINE_CHARS]


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)|\n+")


@dataclass
class ChunkDraft:
    text: str
    page_number: int | None
    section: str
    element_types: list[str] = field(default_factory=list)
    token_count: int = 0


def _split_long_text(text: str, tokens: TokenCounter, limit: int) -> Iterator[str]:
    """Split text that exceeds `limit` content tokens at sentence ends, else at token windows."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    buffer: list[str] = []
    buffer_tokens = 0
    for sentence in sentences:
        size = tokens.count(sentence) - SPECIAL_TOKENS
        if size > limit:
            if buffer:
                yield " ".join(buffer)
                buffer, buffer_tokens = [], 0
            yield from _split_by_token_windows(sentence, tokens, limit)
            continue
        if buffer and buffer_tokens + size > limit:
            yield " ".join(buffer)
            buffer, buffer_tokens = [], 0
        buffer.append(sentence)
        buffer_tokens += size
    if buffer:
        yield " ".join(buffer)


def _split_by_token_windows(text: str, tokens: TokenCounter, limit: int) -> Iterator[str]:
    """Cut at token windows, moving each cut back to a word boundary when the word fits."""
    encoding = tokens.tokenizer.encode(text, add_special_tokens=False)
    offsets, word_ids = encoding.offsets, encoding.word_ids
    # Step back a little from the limit: re-tokenising a cut piece can add a token at its edges.
    window = max(1, limit - 4)
    start = 0
    while start < len(offsets):
        end = min(start + window, len(offsets))
        if end < len(offsets):
            boundary = end
            while boundary > start + 1 and word_ids[boundary] == word_ids[boundary - 1]:
                boundary -= 1
            if word_ids[boundary] != word_ids[boundary - 1]:
                end = boundary
        yield text[offsets[start][0] : offsets[end - 1][1]].strip()
        start = end


def _pieces(elements: Iterable[ParsedElement], tokens: TokenCounter, limit: int) -> Iterator[tuple[str, str, int]]:
    """(text, element type, content tokens) for each element, over-long ones split."""
    for element in elements:
        size = tokens.count(element.text) - SPECIAL_TOKENS
        if size <= limit:
            yield element.text, element.element_type, size
            continue
        for piece in _split_long_text(element.text, tokens, limit):
            yield piece, element.element_type, tokens.count(piece) - SPECIAL_TOKENS


def _pack(pieces: Iterable[tuple[str, str, int]], target: int) -> Iterator[list[tuple[str, str, int]]]:
    batch: list[tuple[str, str, int]] = []
    used = 0
    for piece in pieces:
        if batch and used + piece[2] > target:
            yield batch
            batch, used = [], 0
        batch.append(piece)
        used += piece[2]
    if batch:
        yield batch


def chunk(
    elements: Iterable[ParsedElement], tokens: TokenCounter, target_tokens: int, title: str = ""
) -> list[ChunkDraft]:
    """Table rows are packed under their header row, which starts every chunk of the table. The
    window a chunk may fill is what its context line (`context_line`) leaves, so that the line and
    all of the text are embedded."""
    window = tokens.max_tokens - SPECIAL_TOKENS
    drafts: list[ChunkDraft] = []
    for (page, section, header), group in groupby(elements, key=lambda e: (e.page_number, e.section, e.header)):
        line = context_line(title, section)
        limit = window - (tokens.count(line) - SPECIAL_TOKENS if line else 0)
        target = min(target_tokens, limit)
        header_tokens = tokens.count(header) - SPECIAL_TOKENS if header else 0
        if header_tokens > limit // 2:  # a header too long to repeat: rows stand alone
            header, header_tokens = "", 0
        room = limit - header_tokens
        for batch in _pack(_pieces(group, tokens, room), min(target, room)):
            text = "\n".join(piece for piece, _, _ in batch) if header else "\n\n".join(p for p, _, _ in batch)
            if header:
                text = f"{header}\n{text}"
            drafts.append(ChunkDraft(text, page, section, sorted({kind for _, kind, _ in batch})))

    for draft in drafts:
        draft.token_count = tokens.count(draft.text)
        line = context_line(title, draft.section)
        embedded = tokens.count(f"{line}\n{draft.text}") if line else draft.token_count
        if embedded > tokens.max_tokens:  # the contract, checked rather than assumed
            raise AssertionError(f"chunk of {embedded} tokens exceeds the {tokens.max_tokens}-token window")
    return drafts


@dataclass
class PageDraft:
    """The unit lexical search ranks (`ingest.models.Page`)."""

    number: int | None
    ordinal: int  # of its first chunk
    text: str
    words: int
    ordinals: list[int]  # of its chunks


def pages(chunks: Sequence[Any]) -> list[PageDraft]:
    """The chunks of each page together, in reading order (anything with `text` and `page_number`,
    given in ordinal order): a page holds the several facts one question combines, where a chunk
    often holds one. A chunk without a page number (formats without pages) is a unit of its own."""
    grouped: dict[Any, PageDraft] = {}
    for ordinal, item in enumerate(chunks):
        key = ("page", item.page_number) if item.page_number is not None else ("chunk", ordinal)
        if key not in grouped:
            grouped[key] = PageDraft(number=item.page_number, ordinal=ordinal, text="", words=0, ordinals=[])
        grouped[key].ordinals.append(ordinal)
    texts = [item.text for item in chunks]
    for draft in grouped.values():
        draft.text = "\n".join(texts[o] for o in draft.ordinals)
        draft.words = len(lexical_tokens(draft.text))
    return sorted(grouped.values(), key=lambda d: d.ordinal)
