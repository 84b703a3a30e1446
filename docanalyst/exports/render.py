"""Render a `Report` to PDF, DOCX, Markdown, CSV or XLSX.

Every format carries the same content in the same order — title, blocks, "Sources" (each
citation with its verbatim quote), "Documents" (the exact versions and SHA-256 the report was
made from) and "Provenance" — so an export can be checked against its sources without the app.

Titles, quotes and table cells are untrusted document text, so each format neutralises what its
reader would interpret: reportlab's paragraph markup, Markdown/HTML, spreadsheet formulas (CSV
cells get a leading `'`, XLSX cells are typed as strings), and control characters that XML-based
formats reject. The PDF/DOCX/XLSX libraries are imported when first used, so web processes that
never export do not pay for them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from docanalyst.exports.model import Citation, Heading, Paragraph, Report, SourceDocument, Table

__all__ = ["FORMATS", "ExportNotAvailable", "render", "to_csv", "to_docx", "to_markdown", "to_pdf", "to_xlsx"]


class ExportNotAvailable(ValueError):
    """The report cannot be exported in the requested format; the message is meant for the user."""


FORMATS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

AUTHOR = "DocAnalyst"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
DEFAULT_TABLE_NAME = "Table"

# Characters XML 1.0 cannot hold (python-docx raises on them, openpyxl refuses them); a superset of
# openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE that also covers lone surrogates and U+FFFE/U+FFFF.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(value: object) -> str:
    return _XML_ILLEGAL.sub("", str(value))


def _one_line(value: object) -> str:
    return " ".join(_clean(value).split())


def _level(heading: Heading) -> int:
    return min(max(int(heading.level), 1), 3)


def _rows(table: Table) -> list[list[str]]:
    """The rows padded or cut to the number of columns, so a malformed row cannot break a layout."""
    width = len(table.columns)
    return [[*(str(cell) for cell in row[:width]), *([""] * (width - len(row)))] for row in table.rows]


def _shows_caption(table: Table) -> bool:
    return bool(table.name.strip()) and table.name != DEFAULT_TABLE_NAME


def _paragraph_lines(text: str) -> list[tuple[bool, str]]:
    """(is_bullet, text) for each line of a paragraph; "- " at the start of a line is a bullet."""
    lines = []
    for raw in _clean(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.startswith("- "):
            lines.append((True, raw[2:]))
        else:
            lines.append((False, raw))
    return lines


def _line_groups(text: str) -> list[tuple[bool, list[str]]]:
    """Consecutive lines grouped into runs of plain text and runs of bullets; a blank line ends a run."""
    groups: list[tuple[bool, list[str]]] = []
    run_open = False
    for bullet, line in _paragraph_lines(text):
        if not bullet and not line.strip():
            run_open = False
        elif run_open and groups[-1][0] == bullet:
            groups[-1][1].append(line)
        else:
            groups.append((bullet, [line]))
            run_open = True
    return groups


def _citation_line(citation: Citation) -> tuple[str, str, str]:
    """The parts of `[n] <title> (version v), page p: "<quote>"`: marker, title with version, and place."""
    title = _one_line(citation.title)
    if citation.version is not None:
        title = f"{title} (version {citation.version})"
    page = f"page {citation.page}" if citation.page is not None else "no page"
    return f"[{citation.n}]", title, page


def _document_fields(document: SourceDocument) -> list[tuple[str, str]]:
    return [
        ("Path", _one_line(document.path)),
        ("Version", str(document.version)),
        ("SHA-256", _one_line(document.sha256)),
        ("Collection", _one_line(document.collection)),
        ("Document id", str(document.document_id)),
    ]


def _kind_noun(report: Report) -> str:
    return report.kind if report.kind in {"summary", "comparison", "extraction", "answer", "conversation"} else "report"


def _require_tables(report: Report, fmt: str) -> list[Table]:
    tables = report.tables
    if not tables:
        raise ExportNotAvailable(
            f"This {_kind_noun(report)} has no table, so it cannot be exported as {fmt.upper()}. "
            "Export it as PDF, DOCX or Markdown instead."
        )
    return tables


def render(report: Report, fmt: str) -> bytes:
    """The report in `fmt` (a key of FORMATS); ExportNotAvailable when that format does not apply."""
    key = str(fmt).strip().lower()
    if key not in FORMATS:
        shown = str(fmt)[:20]
        raise ExportNotAvailable(f'Unknown export format "{shown}". Available formats: {", ".join(FORMATS)}.')
    if key == "pdf":
        return to_pdf(report)
    if key == "docx":
        return to_docx(report)
    if key == "md":
        return to_markdown(report).encode("utf-8")
    if key == "csv":
        return to_csv(report).encode("utf-8")
    return to_xlsx(report)


# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|])")
# Our own markers, once escaped; not restored when "(" or ":" follows, which would make a link
# or a link reference definition out of document text.
_MD_ESCAPED_MARKER = re.compile(r"\\\[(\d+)\\\](?![(:])")
_MD_LIST_OR_RULE_START = re.compile(r"^([-+=~])")
_MD_ORDERED_START = re.compile(r"^(\d{1,9})([.)])")


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", _clean(text))


def _md_line_start(text: str) -> str:
    """Escape what would start a list, rule, setext heading or code block at the start of a line."""
    text = text.lstrip(" \t")
    text = _MD_LIST_OR_RULE_START.sub(r"\\\1", text)
    return _MD_ORDERED_START.sub(r"\1\\\2", text)


def _md_inline(text: str) -> str:
    """Untrusted text on one line: every markup character escaped."""
    return _md_line_start(_md_escape(_one_line(text)))


def _md_prose(text: str) -> str:
    """Our own prose (paragraph lines): escaped, but citation markers [n] stay readable."""
    return _md_line_start(_MD_ESCAPED_MARKER.sub(r"[\1]", _md_escape(text)))


def _md_cell(text: str) -> str:
    return _md_escape(_one_line(text))


def _md_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(c) or " " for c in columns) + " |"]
    lines.append("|" + "|".join(" --- " for _ in columns) + "|")
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def to_markdown(report: Report) -> str:
    """GitHub-flavoured Markdown with document text escaped so it cannot inject markup or HTML."""
    out: list[str] = [f"# {_md_inline(report.title)}", ""]
    for block in report.blocks:
        if isinstance(block, Heading):
            out += ["#" * (_level(block) + 1) + " " + _md_inline(block.text), ""]
        elif isinstance(block, Paragraph):
            for bullet, lines in _line_groups(block.text):
                if bullet:
                    out += [f"- {_md_prose(line)}" for line in lines]
                else:
                    out.append("  \n".join(_md_prose(line) for line in lines))
                out.append("")
        elif isinstance(block, Table) and block.columns:
            if _shows_caption(block):
                out += [f"**{_md_inline(block.name)}**", ""]
            out += [*_md_table(block.columns, _rows(block)), ""]

    out += ["## Sources", ""]
    for citation in report.citations:
        marker, title, page = _citation_line(citation)
        out += [f'{marker} {_md_escape(title)}, {page}: "{_md_escape(_one_line(citation.quote))}"', ""]
    if not report.citations:
        out += ["No citations.", ""]

    out += ["## Documents", ""]
    for document in report.sources:
        fields = "; ".join(f"{label}: {_md_escape(value)}" for label, value in _document_fields(document))
        out.append(f"- **{_md_inline(document.title)}** — {fields}")
    if not report.sources:
        out.append("No documents.")
    out.append("")

    out += ["## Provenance", ""]
    out += [f"- **{_md_inline(label)}**: {_md_escape(_one_line(value))}" for label, value in report.provenance]
    out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# --- CSV ----------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    text = _clean(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _sources_rows(report: Report) -> list[list[str]]:
    rows = []
    for citation in report.citations:
        page = str(citation.page) if citation.page is not None else "no page"
        version = str(citation.version) if citation.version is not None else ""
        rows.append([f"[{citation.n}]", _one_line(citation.title), version, page, _clean(citation.quote)])
    return rows


def _documents_rows(report: Report) -> list[list[str]]:
    return [
        [_one_line(d.title), _clean(d.path), str(d.version), _clean(d.sha256), _clean(d.collection), str(d.document_id)]
        for d in report.sources
    ]


def _provenance_rows(report: Report) -> list[list[str]]:
    """Provenance, preceded by the report's title and kind (CSV and XLSX have no other place for them)."""
    rows = [["Report title", _clean(report.title)], ["Report kind", _clean(report.kind)]]
    return rows + [[_clean(label), _clean(value)] for label, value in report.provenance]


SOURCES_COLUMNS = ["n", "Title", "Version", "Page", "Quote"]
DOCUMENTS_COLUMNS = ["Title", "Path", "Version", "SHA-256", "Collection", "Document id"]
PROVENANCE_COLUMNS = ["Label", "Value"]


def to_csv(report: Report) -> str:
    """The tables (each named when there are several), then Sources, Documents and Provenance.

    Every cell that a spreadsheet would read as a formula gets a leading apostrophe.
    """
    tables = _require_tables(report, "csv")
    rows: list[list[str]] = []
    for index, table in enumerate(tables):
        if index:
            rows.append([])
        if len(tables) > 1:
            rows.append([table.name])
        rows.append(list(table.columns))
        rows += _rows(table)
    for section, columns, body in (
        ("Sources", SOURCES_COLUMNS, _sources_rows(report)),
        ("Documents", DOCUMENTS_COLUMNS, _documents_rows(report)),
        ("Provenance", PROVENANCE_COLUMNS, _provenance_rows(report)),
    ):
        rows += [[], [section], columns, *body]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([[_csv_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue()


# --- XLSX ---------------------------------------------------------------------------------------

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_XLSX_MAX_CELL = 32767  # Excel's limit on the characters in one cell
_RESERVED_SHEETS = ("Sources", "Documents", "Provenance")


def _sheet_title(name: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (<= 31 chars, none of []:*?/\\, no edge apostrophe), unique in the book."""
    base = " ".join(_SHEET_FORBIDDEN.sub(" ", _clean(name)).split()).strip("'").strip()[:31].strip("'").strip()
    if not base or base.lower() == "history":  # "History" is reserved by Excel
        base = f"{base} table".strip() if base else DEFAULT_TABLE_NAME
    candidate, counter = base, 2
    while candidate.lower() in taken:
        suffix = f" ({counter})"
        candidate = base[: 31 - len(suffix)].rstrip("'").rstrip() + suffix
        counter += 1
    taken.add(candidate.lower())
    return candidate


def _xlsx_sheet(workbook: Any, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(title=title)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    widths = [0] * len(columns)
    for row_index, row in enumerate([list(columns), *rows], start=1):
        for col_index, value in enumerate(row, start=1):
            text = _clean(value)[:_XLSX_MAX_CELL]
            cell = sheet.cell(row=row_index, column=col_index)
            cell.value = text
            cell.data_type = "s"  # a str starting with "=" would otherwise be stored as a formula
            if row_index == 1:
                cell.font = bold
            elif len(text) > 60 or "\n" in text:
                cell.alignment = wrap
            if col_index <= len(widths):
                widths[col_index - 1] = max(widths[col_index - 1], max((len(x) for x in text.split("\n")), default=0))
    for col_index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col_index)].width = min(max(width + 2, 8), 60)
    sheet.freeze_panes = "A2"


def to_xlsx(report: Report) -> bytes:
    """One sheet per table, then "Sources", "Documents" and "Provenance"; every value a plain string."""
    from openpyxl import Workbook

    tables = _require_tables(report, "xlsx")
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.title = _one_line(report.title)[:255]
    workbook.properties.creator = AUTHOR
    taken = {name.lower() for name in _RESERVED_SHEETS}
    for table in tables:
        _xlsx_sheet(workbook, _sheet_title(table.name, taken), table.columns, _rows(table))
    _xlsx_sheet(workbook, "Sources", SOURCES_COLUMNS, _sources_rows(report))
    _xlsx_sheet(workbook, "Documents", DOCUMENTS_COLUMNS, _documents_rows(report))
    _xlsx_sheet(workbook, "Provenance", PROVENANCE_COLUMNS, _provenance_rows(report))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- DOCX ---------------------------------------------------------------------------------------


def _docx_table(document: Any, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = document.add_table(rows=1, cols=len(columns))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, columns, strict=True):
        cell.paragraphs[0].add_run(_clean(text)).bold = True
    for row in rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = _clean(text)


def to_docx(report: Report) -> bytes:
    """A Word document: headings, paragraphs with bullets, "Table Grid" tables with a bold header."""
    from docx import Document

    document = Document()
    document.core_properties.title = _one_line(report.title)[:255]
    document.core_properties.author = AUTHOR
    document.add_heading(_one_line(report.title), level=0)
    for block in report.blocks:
        if isinstance(block, Heading):
            document.add_heading(_one_line(block.text), level=_level(block))
        elif isinstance(block, Paragraph):
            for bullet, lines in _line_groups(block.text):
                if bullet:
                    for line in lines:
                        document.add_paragraph(line, style="List Bullet")
                else:
                    paragraph = document.add_paragraph()
                    for index, line in enumerate(lines):
                        run = paragraph.add_run(line)
                        if index < len(lines) - 1:
                            run.add_break()
        elif isinstance(block, Table) and block.columns:
            if _shows_caption(block):
                document.add_paragraph().add_run(_one_line(block.name)).bold = True
            _docx_table(document, block.columns, _rows(block))

    document.add_heading("Sources", level=1)
    for citation in report.citations:
        marker, title, page = _citation_line(citation)
        paragraph = document.add_paragraph()
        paragraph.add_run(marker).bold = True
        paragraph.add_run(f' {title}, {page}: "{_clean(citation.quote)}"')
    if not report.citations:
        document.add_paragraph("No citations.")

    document.add_heading("Documents", level=1)
    for source in report.sources:
        paragraph = document.add_paragraph()
        paragraph.add_run(_one_line(source.title)).bold = True
        for label, value in _document_fields(source):
            paragraph.add_run().add_break()
            paragraph.add_run(f"{label}: {value}")
    if not report.sources:
        document.add_paragraph("No documents.")

    document.add_heading("Provenance", level=1)
    _docx_table(document, PROVENANCE_COLUMNS, [[label, value] for label, value in report.provenance])

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- PDF ----------------------------------------------------------------------------------------

_PDF_CELL_LIMIT = 2000  # characters shown per table cell; the full text is in the CSV/XLSX export
_PDF_CELL_PADDING = 3


@cache
def _pdf_fonts() -> tuple[str, str]:
    """(regular, bold): DejaVu Sans when installed, for text beyond Latin-1; else Helvetica."""
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
    return xml_escape(_clean(text)).replace("\r\n", "\n").replace("\n", "<br/>")


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
    title = _one_line(report.title)
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
        subject=_kind_noun(report),
        invariant=1,
    )
    width = doc.width
    story: list[Any] = [PdfParagraph(_pdf_text(title), title_style)]

    for block in report.blocks:
        if isinstance(block, Heading):
            story.append(PdfParagraph(_pdf_text(_one_line(block.text)), headings[_level(block)]))
        elif isinstance(block, Paragraph):
            for is_bullet, lines in _line_groups(block.text):
                if is_bullet:
                    story += [PdfParagraph(_pdf_text(line), bullet, bulletText="•") for line in lines]
                else:
                    story.append(PdfParagraph("<br/>".join(_pdf_text(line) for line in lines), body))
        elif isinstance(block, Table) and block.columns:
            if _shows_caption(block):
                story.append(PdfParagraph(_pdf_text(_one_line(block.name)), caption))
            story += [_pdf_table(block.columns, _rows(block), width, fonts), Spacer(1, 6)]

    story.append(PdfParagraph("Sources", headings[1]))
    for citation in report.citations:
        marker, cited, page = _citation_line(citation)
        text = f'<b>{marker}</b> {_pdf_text(cited)}, {page}: "{_pdf_text(citation.quote)}"'
        story.append(PdfParagraph(text, body))
    if not report.citations:
        story.append(PdfParagraph("No citations.", body))

    story.append(PdfParagraph("Documents", headings[1]))
    for source in report.sources:
        lines = [f"<b>{_pdf_text(_one_line(source.title))}</b>"]
        lines += [f"{label}: {_pdf_text(value)}" for label, value in _document_fields(source)]
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
