"""The fast PDF text path: PDFium for pages with a usable text layer, unstructured for pages whose
layer it cannot use, OCR for scans — each page's reader on the document's record."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from ingest.pipeline.chunk import chunk
from ingest.pipeline.parse import parse
from ingest.pipeline.pdf_text import TextLayer, _Line, blocks, read_pages
from tests.documents import FILLER, make_pdf
from tests.ingest.fixtures import make_mixed_pdf


def _unmapped_glyphs_pdf(path: Path, first_page: list[str]) -> Path:
    """Page 1 an ordinary text page; page 2 a text layer that is mostly U+FFFD, what a font without
    a usable Unicode map leaves for its glyphs."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    from tests.ingest.fixtures import FONT

    pdfmetrics.registerFont(TTFont("DejaVu", FONT))
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for index, line in enumerate(first_page):
        pdf.setFont("Helvetica", 11)
        pdf.drawString(60, 780 - 16 * index, line)
    pdf.showPage()
    pdf.setFont("DejaVu", 11)
    for index in range(5):
        pdf.drawString(60, 780 - 16 * index, "Valve " + "\ufffd" * 12)
    pdf.showPage()
    pdf.save()
    return path


def test_a_pdf_with_a_text_layer_takes_the_fast_path_and_keeps_its_page_numbers(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "manual.pdf",
        [["Introduction", FILLER[:90]], ["Torque table", "Bolt TC-4410-B takes 42 Nm."], ["Storage", "Keep dry."]],
    )

    parsed = parse(path)

    assert parsed.page_count == 3
    assert parsed.metadata["pages_read_by"] == {"pdfium": "1-3"}
    assert parsed.ocr_pages == []
    by_text = {e.text: e for e in parsed.elements}
    assert by_text["Bolt TC-4410-B takes 42 Nm."].page_number == 2
    assert by_text["Keep dry."].page_number == 3
    # The bold, larger first line of each page is its heading: the section of what follows.
    assert by_text["Torque table"].element_type == "Title"
    assert by_text["Bolt TC-4410-B takes 42 Nm."].section == "Torque table"


def test_a_scanned_page_still_goes_to_ocr_beside_a_fast_page(tmp_path: Path) -> None:
    path = make_mixed_pdf(
        tmp_path / "mixed.pdf", ["Digital page", "Flange torque is 42 Nm."], ["SCANNED WARRANTY PAGE"]
    )

    parsed = parse(path)

    assert parsed.ocr_pages == [2]
    assert parsed.metadata["pages_read_by"] == {"ocr": "2", "pdfium": "1"}
    assert "Flange torque is 42 Nm." in [e.text for e in parsed.elements if e.page_number == 1]
    assert "WARRANTY" in " ".join(e.text for e in parsed.elements if e.page_number == 2).upper()


def test_a_page_whose_text_layer_is_unusable_goes_to_unstructured_under_its_own_number(tmp_path: Path) -> None:
    path = _unmapped_glyphs_pdf(tmp_path / "legacy.pdf", ["An ordinary first page of prose.", FILLER[:80]])

    pages = list(read_pages(path))
    parsed = parse(path)

    assert [page.layer for page in pages] == [TextLayer.USABLE, TextLayer.BROKEN]
    assert parsed.metadata["pages_read_by"] == {"pdfium": "1", "unstructured": "2"}
    assert {e.page_number for e in parsed.elements} == {1, 2}
    assert "Valve" in " ".join(e.text for e in parsed.elements if e.page_number == 2)


@override_settings(PDF_TEXT_READER="unstructured")
def test_pdf_text_reader_unstructured_reads_every_page_the_old_way(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "manual.pdf", [["Introduction", FILLER[:90]], ["Torque table", "Bolt takes 42 Nm."]])

    parsed = parse(path)

    assert parsed.metadata["pages_read_by"] == {"unstructured": "1-2"}
    assert {e.text: e.page_number for e in parsed.elements}["Bolt takes 42 Nm."] == 2


def _line(text: str, top: float, left: float = 60, right: float = 540, size: float = 11, bold: bool = False) -> _Line:
    return _Line(text, left, right, top - 8, top, size, bold)


def test_wrapped_prose_is_unwrapped_and_table_rows_keep_their_line_breaks() -> None:
    lines = [
        _line("The supplier shall deliver the pumps within thirty days of the order and shall", 700),
        _line("bear the cost of carriage.", 686, right=200),
        _line("Pump P-100 4 units", 650, right=300),
        _line("Valve V-20 12 units", 636, right=300),
    ]

    found = blocks(lines)

    assert [b.text for b in found] == [
        "The supplier shall deliver the pumps within thirty days of the order and shall bear the cost of carriage.",
        "Pump P-100 4 units\nValve V-20 12 units",
    ]


def test_a_bold_line_alone_is_a_heading_but_bold_column_headers_on_one_row_are_not() -> None:
    lines = [
        _line("Warranty Terms", 760, right=200, bold=True),
        _line("Item", 720, left=60, right=90, bold=True),
        _line("Quantity", 720, left=300, right=350, bold=True),
        _line("Pump 4", 700, right=300),
    ]

    found = blocks(lines)

    assert [b.text for b in found if b.is_heading] == ["Warranty Terms"]
    assert [b.text for b in found if not b.is_heading] == ["Item", "Quantity\nPump 4"]


@pytest.mark.parametrize("title", ["", "Quarterly report of a company with a very long name — " * 3])
def test_every_chunk_fits_the_model_window_with_its_context_line(title: str) -> None:
    from backends.embedder import get_tokenizer
    from ingest.pipeline.chunk import context_line
    from ingest.pipeline.parse import ParsedElement

    tokens = get_tokenizer()
    sentence = "The flange bolts of pump P-100 are tightened to forty-two newton metres in a star pattern. "
    elements = [ParsedElement(sentence * 30, "NarrativeText", 1, "Maintenance of centrifugal pumps and their seals")]

    drafts = chunk(elements, tokens, target_tokens=400, title=title)

    assert len(drafts) > 1
    for draft in drafts:
        embedded = f"{context_line(title, draft.section)}\n{draft.text}"
        assert tokens.count(embedded) <= tokens.max_tokens
