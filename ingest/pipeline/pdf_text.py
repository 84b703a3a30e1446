"""The fast text path for born-digital PDFs: each page's text layer read with PDFium (pypdfium2).

PDFium reads a page's text in its content order at about a hundred pages a second here, an order
of magnitude faster than `unstructured`'s pdfminer-based fast strategy, and gives each character's
box, font size and font name. From those this module rebuilds what the chunker needs:

- lines (PDFium ends each with CR LF) and paragraphs: a new paragraph where the distance from
  the previous line's baseline is clearly more than the page's usual line pitch, where the text
  goes back up the page, or where the font size changes;
- wrapped prose unwrapped (a line that reaches most of the page's text width and does not end in
  a figure, or is followed by a lower-case word, continues on the next), while other lines —
  table rows, addresses, list entries — keep their line breaks;
- headings: a line alone on its row (nothing beside it at the same height, unlike a table's
  column headers), in a font clearly larger than the page's body text, or in a bold face at the
  text's left margin (not centred over a table's figures); short, and not ending like a sentence.
  A heading starts a section, as `unstructured`'s titles do.

`read_pages` says, for each page, whether its text layer is usable (`TextLayer.USABLE`), absent
(`EMPTY`: a scan, for OCR), or unusable (`BROKEN`: mostly unmapped glyphs, or text laid out a
character at a time) — those pages go to `unstructured` and, failing that, to OCR.
"""

from __future__ import annotations

import ctypes
import enum
import itertools
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2
import pypdfium2.raw as pdfium_c

# Characters a text layer produces for glyphs it cannot map to Unicode.
_UNMAPPED = re.compile(r"[\ufffd\ue000-\uf8ff\x00-\x08\x0b\x0c\x0e-\x1f]")
_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = (".", ",", ";", ":", "!", "?")
_FORCE_BOLD = 0x40000  # FPDF_FONT_FORCEBOLD in the font flags
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")

MIN_WORD_CHARACTERS = 4  # fewer letters and digits than this: no text layer (a scan, perhaps with a page number)
MAX_UNMAPPED_SHARE = 0.05
MAX_FRAGMENT_SHARE = 0.6  # lines of one or two characters: text positioned a glyph at a time
HEADING_MAX_WORDS = 16
LARGER_FONT = 1.18  # a heading's font, against the page's body text
PARAGRAPH_PITCH = 1.35  # of the page's usual baseline-to-baseline distance
MARGIN_SLACK = 0.05  # of the page's text width: how far from the left margin a heading may start
WRAP_WIDTH = 0.72  # of the page's text width: a line this long continues on the next


class TextLayer(enum.StrEnum):
    USABLE = "usable"
    EMPTY = "empty"
    BROKEN = "broken"


@dataclass(frozen=True)
class Block:
    """A paragraph or a heading of one page, in reading order."""

    text: str
    is_heading: bool


@dataclass
class _Line:
    text: str
    left: float
    right: float
    bottom: float
    top: float
    size: float
    bold: bool

    @property
    def height(self) -> float:
        return max(self.top - self.bottom, self.size * 0.5, 1.0)


def _font(textpage: Any, index: int) -> tuple[float, bool]:
    size = float(pdfium_c.FPDFText_GetFontSize(textpage, index))
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int(0)
    pdfium_c.FPDFText_GetFontInfo(textpage, index, name, len(name), ctypes.byref(flags))
    lowered = name.value.decode("latin-1").lower()
    return size, bool(flags.value & _FORCE_BOLD) or any(mark in lowered for mark in _BOLD_NAMES)


def _lines(textpage: Any, text: str) -> list[_Line]:
    """The page's lines with the box of their text and the font of their first character. PDFium
    indexes its text one character per UTF-16 unit; with characters outside the BMP the offsets
    drift, so such a page gets its lines without geometry (one paragraph per line)."""
    aligned = textpage.count_chars() == len(text)
    lines: list[_Line] = []
    offset = 0
    for raw in text.split("\r\n"):
        stripped = raw.strip()
        if stripped and aligned:
            first = offset + len(raw) - len(raw.lstrip())
            last = offset + len(raw.rstrip()) - 1
            left, bottom, _, top = textpage.get_charbox(first)
            _, _, right, _ = textpage.get_charbox(last)
            size, bold = _font(textpage, first)
            lines.append(_Line(" ".join(stripped.split()), left, right, bottom, top, size, bold))
        elif stripped:
            lines.append(_Line(" ".join(stripped.split()), 0.0, 0.0, 0.0, 0.0, 0.0, False))
        offset += len(raw) + 2
    return lines


def layer_quality(text: str, lines: list[_Line]) -> TextLayer:
    words = sum(len(word) for word in _WORD.findall(text))
    if words < MIN_WORD_CHARACTERS:
        return TextLayer.EMPTY
    visible = sum(1 for c in text if not c.isspace())
    if len(_UNMAPPED.findall(text)) > MAX_UNMAPPED_SHARE * max(visible, 1):
        return TextLayer.BROKEN
    if lines and sum(1 for line in lines if len(line.text) <= 2) > MAX_FRAGMENT_SHARE * len(lines):
        return TextLayer.BROKEN
    return TextLayer.USABLE


def _shares_row(lines: list[_Line], index: int) -> bool:
    """Whether another line sits at the same height (a table's cells, a form's label and value)."""
    line = lines[index]
    for other_index in range(max(0, index - 8), min(len(lines), index + 9)):
        other = lines[other_index]
        if other_index == index or other.top == other.bottom:
            continue
        overlap = min(line.top, other.top) - max(line.bottom, other.bottom)
        if overlap > 0.5 * min(line.height, other.height):
            return True
    return False


def _is_heading(lines: list[_Line], index: int, body_size: float, margin: float, width: float) -> bool:
    line = lines[index]
    if line.top == line.bottom:  # no geometry
        return False
    words = line.text.split()
    letters = sum(c.isalpha() for c in line.text)
    if not (1 <= len(words) <= HEADING_MAX_WORDS) or letters < 4 or letters < 0.5 * len(line.text.replace(" ", "")):
        return False
    if line.text.endswith(_SENTENCE_END) and not line.text.endswith(":"):
        return False
    if "$" in line.text or "%" in line.text:  # a table's total row set in bold
        return False
    larger = body_size > 0 and line.size >= LARGER_FONT * body_size
    # A bold line in the body's size is a heading where headings start, at the text's left margin;
    # bold lines over a table's figures (its column and period headers) stand elsewhere.
    at_margin = width <= 0 or line.left - margin <= MARGIN_SLACK * width
    return (larger or (line.bold and at_margin)) and not _shares_row(lines, index)


def _usual_pitch(lines: list[_Line]) -> float:
    """The median distance between consecutive baselines that go down the page by less than three
    lines' heights: the page's line pitch."""
    pitches = [
        previous.bottom - line.bottom
        for previous, line in itertools.pairwise(lines)
        if line.top != line.bottom
        and previous.top != previous.bottom
        and 0 < previous.bottom - line.bottom < 3 * max(previous.size, 1.0)
    ]
    return statistics.median(pitches) if pitches else 0.0


def _continues(previous: _Line, line: _Line, width: float) -> bool:
    """Whether `line` is the wrapped continuation of `previous` (joined with a space)."""
    if width <= 0 or previous.right - previous.left < WRAP_WIDTH * width:
        return False
    return not previous.text[-1].isdigit() or line.text[0].islower()


def blocks(lines: list[_Line]) -> list[Block]:
    """Paragraphs and headings from the page's lines (see the module's description)."""
    if not lines:
        return []
    pitch = _usual_pitch(lines)
    sizes = [line.size for line in lines for _ in range(max(1, len(line.text) // 10)) if line.size > 0]
    body_size = statistics.median(sizes) if sizes else 0.0
    geometry = [line for line in lines if line.top != line.bottom]
    margin = min((line.left for line in geometry), default=0.0)
    width = (max(line.right for line in geometry) - margin) if geometry else 0.0
    result: list[Block] = []
    paragraph: list[str] = []
    previous: _Line | None = None

    def close() -> None:
        if paragraph:
            result.append(Block("".join(paragraph), is_heading=False))
            paragraph.clear()

    for index, line in enumerate(lines):
        if _is_heading(lines, index, body_size, margin, width):
            close()
            result.append(Block(line.text, is_heading=True))
            previous = None
            continue
        if previous is not None and paragraph:
            has_geometry = line.top != line.bottom and previous.top != previous.bottom and pitch > 0
            down = previous.bottom - line.bottom
            new_paragraph = not has_geometry or (
                down > PARAGRAPH_PITCH * pitch
                or down < 0.5 * pitch  # beside or back up the page: another cell, column or text box
                or abs(line.size - previous.size) > 0.15 * max(previous.size, 1.0)
            )
            if new_paragraph:
                close()
            else:
                paragraph.append(" " if _continues(previous, line, width) else "\n")
        paragraph.append(line.text)
        previous = line
    close()
    return result


@dataclass(frozen=True)
class PageText:
    number: int  # 1-based
    layer: TextLayer
    blocks: list[Block]


def read_pages(path: Path) -> Iterator[PageText]:
    """Every page of the PDF with the quality of its text layer and, when usable, its blocks.
    Raises `pypdfium2.PdfiumError` when PDFium cannot open the file."""
    document = pypdfium2.PdfDocument(str(path))
    try:
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
                lines = _lines(textpage, text)
                layer = layer_quality(text, lines)
                yield PageText(index + 1, layer, blocks(lines) if layer is TextLayer.USABLE else [])
            finally:
                textpage.close()
                page.close()
    finally:
        document.close()
