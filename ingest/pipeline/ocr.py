"""OCR with Tesseract for scans: image files, and the pages of a PDF that have no text layer.

Tesseract runs through `unstructured`'s pytesseract fork (the Debian `tesseract-ocr` binary);
PDF pages are rendered by Poppler. Nothing here needs a model download.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from ingest.pipeline import PermanentIngestError

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@functools.cache
def _register_heif() -> None:
    from pi_heif import register_heif_opener

    register_heif_opener()


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def ocr_image(image: Any) -> list[str]:
    """Paragraphs of text in one page image (a PIL image)."""
    import unstructured_pytesseract

    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    try:
        text = unstructured_pytesseract.image_to_string(image, lang=settings.OCR_LANGUAGES)
    except unstructured_pytesseract.TesseractNotFoundError as exc:
        raise RuntimeError("Tesseract is not installed (apt-get install tesseract-ocr).") from exc
    return paragraphs(text)


def ocr_image_file(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(page number, paragraphs) for each frame of an image file (multi-page TIFF has several)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    _register_heif()
    try:
        with Image.open(path) as image:
            for index, frame in enumerate(ImageSequence.Iterator(image), start=1):
                yield index, ocr_image(frame.copy())
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PermanentIngestError(f"The image is corrupt or in an unreadable format: {exc}") from exc


def ocr_pdf_pages(path: Path, pages: list[int]) -> Iterator[tuple[int, list[str]]]:
    """(page number, paragraphs) for the given 1-based pages of a PDF, rendered one at a time."""
    from pdf2image import convert_from_path

    for page in pages:
        images = convert_from_path(str(path), dpi=settings.OCR_DPI, first_page=page, last_page=page)
        yield page, [p for image in images for p in ocr_image(image)]
