"""The page viewer: a PDF page rendered on the server, with the cited passage painted onto it.

Why on the server, and why painted into the pixels: the browser gets one PNG and needs no PDF.js,
no copy of the original file, and no positioned overlay elements. The app is headed for a strict
Content-Security-Policy (no inline styles or scripts), which rules out `style="top: …"` boxes over
an image; a highlight that is part of the image needs nothing from the page.

The cited passage is a chunk's text, which came from another extractor (pdfminer, through
unstructured). Its whitespace, line breaks, hyphenation and ligatures differ from what pdfium
reads, so the search compares normalised text and maps every normalised character back to the
pdfium character it came from, whose box is then known.
"""

from __future__ import annotations

import ctypes
import io
import math
import re
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw

DEFAULT_WIDTH_PX = 1100
MIN_WIDTH_PX = 400
MAX_WIDTH_PX = 2000
# A width cap alone lets a long, narrow page become a huge image; this caps the pixel count too.
MAX_PIXELS = 2000 * 2000 * 2
# Shorter segments ("Total: 4") match in too many places to be worth highlighting.
MIN_SEGMENT_CHARS = 20
HIGHLIGHT_RGBA = (250, 204, 21, 110)  # a marker yellow, see-through so the text stays legible
HIGHLIGHT_PAD_PX = 2
# Device space for converting page coordinates to fractions: large, so rounding to int is invisible.
_DEVICE_SIZE = 1_000_000

# pdfium is not thread-safe and the web server runs threads (deploy/gunicorn.conf.py): one call
# into it at a time per process.
_PDFIUM_LOCK = threading.Lock()

# Characters left out of the comparison on both sides. Hyphens go because a word broken at a line
# end ("main-\ntenance") is joined by one extractor and not the other; pdfium marks such hyphens
# with U+0002. Quotes are folded because typographic and straight quotes are both common renderings.
_DROPPED = frozenset("-\u2010\u2011\u2012\u2013\u2014\u00ad\u0002")
_FOLDED = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"'})
# Where a passage that is not found whole is cut: line breaks and sentence ends.
_SEGMENT_BOUNDARY = re.compile(r"\s*\n\s*|(?<=[.!?;])\s+")


class PageUnavailable(Exception):
    """The PDF cannot be opened (missing, damaged, password-protected) or has no such page."""


@dataclass(frozen=True)
class Box:
    """A rectangle as fractions of the rendered page (0..1, origin top-left), so that it applies
    to a rendering of any size."""

    left: float
    top: float
    right: float
    bottom: float


def _fold(char: str) -> str:
    """One character as the comparison sees it: compatibility-decomposed (ligatures such as "ﬁ"
    become "fi", as NFKC does), accents and other combining marks dropped (one extractor may give
    "é" precomposed, the other as "e" plus a combining accent), lowercased, and with whitespace,
    hyphens and control characters removed."""
    kept = []
    for c in unicodedata.normalize("NFKD", char).lower():
        category = unicodedata.category(c)
        if c.isspace() or c in _DROPPED or category == "Mn" or category.startswith("C"):
            continue
        kept.append(c.translate(_FOLDED))
    return "".join(kept)


def _normalise(chars: Sequence[str]) -> tuple[str, list[int]]:
    """The folded text of a character sequence, and for each folded character the index of the
    character it came from."""
    text: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(chars):
        folded = _fold(char)
        text.append(folded)
        origin.extend([index] * len(folded))
    return "".join(text), origin


def _segments(passage: str) -> list[str]:
    """Lines and sentences of the passage long enough to be told apart from other text."""
    pieces = (piece.strip() for piece in _SEGMENT_BOUNDARY.split(passage))
    return [piece for piece in pieces if len(_normalise(piece)[0]) >= MIN_SEGMENT_CHARS]


@contextmanager
def _open_page(pdf_path: Path, page_number: int) -> Iterator[pdfium.PdfPage]:
    """A page of the PDF (1-based), with pdfium held for this thread until the block ends.

    password=None lets pdfium open files encrypted with an empty user password, which many
    "protected" (print- or copy-restricted) PDFs are.
    """
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(pdf_path, password=None)
        except (pdfium.PdfiumError, OSError) as exc:
            raise PageUnavailable(f"The PDF cannot be opened: {exc}") from exc
        try:
            if not 1 <= page_number <= len(pdf):
                raise PageUnavailable(f"The PDF has {len(pdf)} pages, not a page {page_number}.")
            try:
                page = pdf[page_number - 1]
            except pdfium.PdfiumError as exc:
                raise PageUnavailable(f"Page {page_number} cannot be loaded: {exc}") from exc
            yield page
        finally:
            pdf.close()


def _page_chars(textpage: pdfium.PdfTextPage) -> list[str]:
    """The page's characters in pdfium's order, one string per pdfium character index (pdfium's
    generated spaces and line breaks included, so indices line up with its char boxes)."""
    chars = []
    for index in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage.raw, index)
        chars.append(chr(code) if 0 < code <= 0x10FFFF else "")
    return chars


def _to_fractions(page: pdfium.PdfPage, x: float, y: float) -> tuple[float, float]:
    """A point in PDF user space as fractions of the displayed page, with the crop box and the
    page's /Rotate applied exactly as rendering applies them."""
    device_x, device_y = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(
        page.raw, 0, 0, _DEVICE_SIZE, _DEVICE_SIZE, 0, x, y, ctypes.byref(device_x), ctypes.byref(device_y)
    )
    return device_x.value / _DEVICE_SIZE, device_y.value / _DEVICE_SIZE


def _char_box(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, index: int) -> Box | None:
    """The loose box of one character (the font's full line height, so highlights of a line are
    even), or None for characters without an area."""
    try:
        left, bottom, right, top = textpage.get_charbox(index, loose=True)
    except pdfium.PdfiumError:
        return None
    if right <= left or top <= bottom:
        return None
    x1, y1 = _to_fractions(page, left, bottom)
    x2, y2 = _to_fractions(page, right, top)
    return Box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _same_line(line: Box, box: Box) -> bool:
    """Whether a character continues the line: it overlaps the line vertically by at least half
    of the smaller height."""
    overlap = min(line.bottom, box.bottom) - max(line.top, box.top)
    return overlap >= 0.5 * min(line.bottom - line.top, box.bottom - box.top)


def _merge_into_lines(boxes: Iterator[Box]) -> list[Box]:
    """Character boxes, in reading order, merged into one rectangle per text line."""
    lines: list[Box] = []
    for box in boxes:
        if lines and _same_line(lines[-1], box):
            line = lines[-1]
            lines[-1] = Box(
                min(line.left, box.left),
                min(line.top, box.top),
                max(line.right, box.right),
                max(line.bottom, box.bottom),
            )
        else:
            lines.append(box)
    return lines


def passage_boxes(pdf_path: Path, page_number: int, passage: str) -> list[Box]:
    """Where the passage is on the page (1-based): one box per text line, as page fractions.

    The whole passage is looked for first. A chunk seldom matches whole when it holds a table
    (serialised as "header: value" rows) or text the extractors read differently, so then each
    line or sentence of at least MIN_SEGMENT_CHARS is looked for on its own, and every one found
    is highlighted; the rest are skipped. An empty list means nothing was found.
    """
    wanted, _ = _normalise(passage)
    if not wanted:
        return []
    with _open_page(pdf_path, page_number) as page:
        textpage = page.get_textpage()
        page_text, origin = _normalise(_page_chars(textpage))
        spans: list[tuple[int, int]] = []
        start = page_text.find(wanted)
        if start >= 0:
            spans.append((start, start + len(wanted)))
        else:
            cursor = 0
            for segment in _segments(passage):
                needle = _normalise(segment)[0]
                # Prefer the occurrence after the previous segment's: a repeated phrase is then
                # highlighted where the passage has it.
                found = page_text.find(needle, cursor)
                if found < 0:
                    found = page_text.find(needle)
                if found >= 0:
                    spans.append((found, found + len(needle)))
                    cursor = found + len(needle)
        indices = sorted({origin[i] for begin, end in spans for i in range(begin, end)})
        char_boxes = (_char_box(page, textpage, index) for index in indices)
        return _merge_into_lines(box for box in char_boxes if box is not None)


def render_page_png(pdf_path: Path, page_number: int, boxes: Sequence[Box], width_px: int = DEFAULT_WIDTH_PX) -> bytes:
    """The page (1-based) as a PNG about width_px wide, with the boxes painted on it in
    see-through yellow.

    The width is clamped to MIN_WIDTH_PX..MAX_WIDTH_PX and the pixel count to MAX_PIXELS, so that
    a request cannot make the server render a poster.
    """
    width_px = max(MIN_WIDTH_PX, min(MAX_WIDTH_PX, width_px))
    with _open_page(pdf_path, page_number) as page:
        page_width, page_height = page.get_size()
        if page_width <= 0 or page_height <= 0:
            raise PageUnavailable(f"Page {page_number} has no area.")
        scale = min(width_px / page_width, math.sqrt(MAX_PIXELS / (page_width * page_height)))
        # Converted (copied) while pdfium is held: the bitmap's memory belongs to pdfium.
        image = page.render(scale=scale).to_pil().convert("RGBA")
    if boxes:
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        width, height = image.size
        for box in boxes:
            draw.rectangle(
                (
                    box.left * width - HIGHLIGHT_PAD_PX,
                    box.top * height - HIGHLIGHT_PAD_PX,
                    box.right * width + HIGHLIGHT_PAD_PX,
                    box.bottom * height + HIGHLIGHT_PAD_PX,
                ),
                fill=HIGHLIGHT_RGBA,
            )
        image = Image.alpha_composite(image, overlay)
    output = io.BytesIO()
    image.convert("RGB").save(output, format="PNG")
    return output.getvalue()
