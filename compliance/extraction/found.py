"""What a finder returns: a value with the verbatim quote, chunk and page it was read from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from compliance.extraction.text import cut
from search.citations import Passage


@dataclass(frozen=True)
class Found:
    value: str | list[str]
    quote: str
    chunk_id: int
    page: int | None


Finder = Callable[[Sequence[Passage]], Found | None]


def found(value: str | list[str], unit: str, passage: Passage) -> Found:
    return Found(value=value, quote=cut(unit), chunk_id=passage.chunk_id, page=passage.page)
