"""Citation text, one definition for answers, summaries, comparisons and extraction: the `[n]`
marker a model writes after a claim, the passage a quote is taken from, how long a quote may be,
and how text splits into sentences for quoting."""

from __future__ import annotations

import re
from dataclasses import dataclass

# `[n]`: the number of a passage as the prompt listed it (validated against the passages sent).
CITATION = re.compile(r"\[(\d{1,6})\]")
MAX_QUOTE_CHARS = 400  # a quote shown beside a citation, in the browser and in exports

SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n{2,}")


@dataclass(frozen=True)
class Passage:
    """A chunk's text as a citation points at it: the chunk and its page."""

    chunk_id: int
    page: int | None
    text: str


def cited_numbers(text: str, passages: int) -> list[int]:
    """The passage numbers `text` cites, in order of first citation, among 1..`passages`."""
    seen: dict[int, None] = {}
    for n in CITATION.findall(text):
        if 1 <= int(n) <= passages:
            seen.setdefault(int(n))
    return list(seen)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, white space collapsed, each cut to MAX_QUOTE_CHARS (ending "…")."""
    sentences = [" ".join(s.split()) for s in SENTENCE_BREAK.split(text)]
    return [s if len(s) <= MAX_QUOTE_CHARS else s[: MAX_QUOTE_CHARS - 1] + "…" for s in sentences if len(s) > 2]
