"""A `Report` as an A4 PDF (reportlab platypus), with document text escaped so reportlab's paragraph markup
shows literally."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from compliance.exports.model import Heading, Paragraph, Report, Table
from compliance.exports.text import (
    AUTHOR,
    PROVENANCE_COLUMNS,
    citation_line,
    clean,
    document_fields,
    kind_noun,
    level,
    line_groups,
    one_line,
    shows_caption,
    table_rows,
)

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# --- PDF ----------------------------------------------------------------------------------------

_PDF_CELL_LIMIT = 2000  # characters shown per table cell; the full text is in the CSV/XLSX export
_PDF_CELL_PADDING = 3


@cache
def _pdf_fonts() -> tuple[str, str]:
    """(regular, bold): DejaVu Sans when installed, for text beyond Latin-1; else Helvetica."""
    # reportlab is heavy and optional: imported only when a PDF is exported.
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if not regular.is_file():
        return "Helvetica", "Helvetica-Bold"
    try:
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        bold_name = "DejaVuSans"
        if bold.is_file():
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
            bold_name = "DejaVuSans-Bold"
    except (TTFError, OSError):
        return "Helvetica", "Helvetica-Bold"
    # So that <b> inside a paragraph picks the bold face.
    addMapping("DejaVuSans", 0, 0, "DejaVuSans")
    addMapping("DejaVuSans", 1, 0, bold_name)
    addMapping("DejaVuSans", 0, 1, "DejaVuSans")
    addMapping("DejaVuSans", 1, 1, bold_name)
    return "DejaVuSans", bold_name


def _pdf_text(text: object) -> str:
    """Text for a reportlab Paragraph: its mini-markup escaped, line breaks kept."""
    return xml_escape(clean(text)).replace("\r\n", "\n").replace("\n", "<br/>")


def _share(base: list[float], wanted: list[float], total: float) -> list[float]:
    """`base` widened toward `wanted`, sharing out exactly `total - sum(base)` in proportion to the want."""
    extra = [max(want - low, 0.0) for want, low in zip(wanted, base, strict=True)]
    spare = total - sum(base)
    if not sum(extra):
        return [low + spare / len(base) for low in base]
    return [low + spare * more / sum(extra) for low, more in zip(base, extra, strict=True)]


def _pdf_column_widths(
    columns: Sequence[str], rows: Sequence[Sequence[str]], total: float, fonts: tuple[str, str], size: float
) -> list[float]:
    """Widths that add up to the page width. Header words are kept whole first, then the longest
    word of each column where there is room, and what is left goes to the columns with most text."""
    # reportlab is heavy and optional: imported only when a PDF is exported.
    from reportlab.pdfbase.pdfmetrics import stringWidth

    padding = 2 * _PDF_CELL_PADDING + 1
    sample = rows[:500]  # enough to judge the shape of a long table
    header, word, wanted = [], [], []
    for index, column in enumerate(columns):
        cells = [row[index] for row in sample]
        header.append(max((stringWidth(w[:20], fonts[1], size) for w in column.split()), default=0.0) + padding)
        longest_word = max((stringWidth(w[:20], fonts[0], size) for c in cells for w in c.split()), default=0.0)
        word.append(max(header[-1], longest_word + padding))
        text = max([stringWidth(column[:200], fonts[1], size), *(stringWidth(c[:200], fonts[0], size) for c in cells)])
        wanted.append(max(word[-1], min(text, total) + padding))
    if sum(word) <= total:
        return _share(word, wanted, total)
    if sum(header) <= total:
        return _share(header, word, total)
    return [total * value / sum(header) for value in header]


def _pdf_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    total: float,
    fonts: tuple[str, str],
    widths: Sequence[float] | None = None,
) -> Any:
    # reportlab is heavy and optional: imported only when a PDF is exported.
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph as PdfParagraph
    from reportlab.platypus import Table as PdfTable
    from reportlab.platypus import TableStyle

    count = len(columns)
    size = 8 if count <= 6 else 7 if count <= 10 else 6
    cell = ParagraphStyle("DACell", fontName=fonts[0], fontSize=size, leading=size + 2, splitLongWords=1)
    head = ParagraphStyle("DAHead", parent=cell, fontName=fonts[1])

    def clip(text: str) -> str:
        return text if len(text) <= _PDF_CELL_LIMIT else text[:_PDF_CELL_LIMIT] + " […]"

    data = [[PdfParagraph(_pdf_text(c), head) for c in columns]]
    data += [[PdfParagraph(_pdf_text(clip(value)), cell) for value in row] for row in rows]
    if widths is None:
        widths = _pdf_column_widths(columns, rows, total, fonts, size)
    table = PdfTable(data, colWidths=list(widths), repeatRows=1, splitInRow=1, hAlign="LEFT")  # tall rows split
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), _PDF_CELL_PADDING),
                ("RIGHTPADDING", (0, 0), (-1, -1), _PDF_CELL_PADDING),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def to_pdf(report: Report) -> bytes:
    """An A4 PDF (reportlab platypus) that flows over as many pages as the report needs."""
    # reportlab is heavy and optional: imported only when a PDF is exported.
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph as PdfParagraph
    from reportlab.platypus import SimpleDocTemplate, Spacer

    fonts = _pdf_fonts()
    regular, bold = fonts
    sample = getSampleStyleSheet()
    body = ParagraphStyle("DABody", parent=sample["BodyText"], fontName=regular, fontSize=10, leading=13)
    bullet = ParagraphStyle("DABullet", parent=body, leftIndent=14, bulletIndent=4, spaceBefore=0, spaceAfter=2)
    caption = ParagraphStyle("DACaption", parent=body, fontName=bold, spaceBefore=6)
    title_style = ParagraphStyle("DATitle", parent=sample["Title"], fontName=bold)
    headings = {
        level: ParagraphStyle(f"DAHeading{level}", parent=sample[f"Heading{level}"], fontName=bold)
        for level in (1, 2, 3)
    }

    buffer = io.BytesIO()
    title = one_line(report.title)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=title,
        author=AUTHOR,
        creator=AUTHOR,
        subject=kind_noun(report),
        invariant=1,
    )
    width = doc.width
    story: list[Any] = [PdfParagraph(_pdf_text(title), title_style)]

    for block in report.blocks:
        if isinstance(block, Heading):
            story.append(PdfParagraph(_pdf_text(one_line(block.text)), headings[level(block)]))
        elif isinstance(block, Paragraph):
            for is_bullet, lines in line_groups(block.text):
                if is_bullet:
                    story += [PdfParagraph(_pdf_text(line), bullet, bulletText="•") for line in lines]
                else:
                    story.append(PdfParagraph("<br/>".join(_pdf_text(line) for line in lines), body))
        elif isinstance(block, Table) and block.columns:
            if shows_caption(block):
                story.append(PdfParagraph(_pdf_text(one_line(block.name)), caption))
            story += [_pdf_table(block.columns, table_rows(block), width, fonts), Spacer(1, 6)]

    story.append(PdfParagraph("Sources", headings[1]))
    for citation in report.citations:
        marker, cited, page = citation_line(citation)
        text = f'<b>{marker}</b> {_pdf_text(cited)}, {page}: "{_pdf_text(citation.quote)}"'
        story.append(PdfParagraph(text, body))
    if not report.citations:
        story.append(PdfParagraph("No citations.", body))

    story.append(PdfParagraph("Documents", headings[1]))
    for source in report.sources:
        lines = [f"<b>{_pdf_text(one_line(source.title))}</b>"]
        lines += [f"{label}: {_pdf_text(value)}" for label, value in document_fields(source)]
        story.append(PdfParagraph("<br/>".join(lines), body))
    if not report.sources:
        story.append(PdfParagraph("No documents.", body))

    story.append(PdfParagraph("Provenance", headings[1]))
    story.append(
        _pdf_table(
            PROVENANCE_COLUMNS,
            [[label, value] for label, value in report.provenance],
            width,
            fonts,
            widths=[width * 0.3, width * 0.7],
        )
    )

    footer = title if len(title) <= 90 else title[:89] + "…"

    def on_page(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.drawString(document.leftMargin, 10 * mm, footer)
        canvas.drawRightString(document.leftMargin + document.width, 10 * mm, f"Page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
