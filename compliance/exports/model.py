"""A neutral report model that every export format renders from.

Summaries, comparisons, extractions, answers and conversations are stored differently; each is
converted once into a `Report` (title, blocks, citations, source documents, provenance) so that
the five formats in `render.py` stay independent of the database and render the same content in
the same order. Everything in here is plain text: escaping for a format happens when rendering,
because titles, quotes and table cells come from untrusted documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Citation:
    n: int  # the number used as [n] in paragraph text
    document_id: int
    title: str
    version: int | None
    page: int | None
    quote: str  # the cited passage, quoted verbatim (untrusted document text)


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2  # 1..3


@dataclass(frozen=True)
class Paragraph:
    text: str  # may contain citation markers like [3] or [1][4], "\n" line breaks, and "- " bullet lines


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]  # every row has len(columns) cells, all str
    name: str = "Table"  # sheet name for XLSX (sanitized to Excel's rules when rendering)


Block = Heading | Paragraph | Table


@dataclass(frozen=True)
class SourceDocument:
    document_id: int
    title: str
    path: str
    version: int
    sha256: str
    collection: str


@dataclass(frozen=True)
class Report:
    title: str
    kind: str  # "summary" | "comparison" | "extraction" | "answer" | "conversation"
    blocks: list[Block]
    citations: list[Citation] = field(default_factory=list)
    sources: list[SourceDocument] = field(default_factory=list)
    provenance: list[tuple[str, str]] = field(default_factory=list)  # (label, value)

    @property
    def tables(self) -> list[Table]:
        """The Table blocks, in order."""
        return [block for block in self.blocks if isinstance(block, Table)]
