"""A `Report` as a Word document (DOCX): headings, paragraphs with bullets, tables, Sources, Documents and
Provenance."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from compliance.exports.model import Heading, Paragraph, Report, Table
from compliance.exports.text import (
    AUTHOR,
    PROVENANCE_COLUMNS,
    citation_line,
    clean,
    document_fields,
    level,
    line_groups,
    one_line,
    shows_caption,
    table_rows,
)

# --- DOCX ---------------------------------------------------------------------------------------


def _docx_table(document: Any, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = document.add_table(rows=1, cols=len(columns))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, columns, strict=True):
        cell.paragraphs[0].add_run(clean(text)).bold = True
    for row in rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = clean(text)


def _docx_paragraph(document: Any, block: Paragraph) -> None:
    """A paragraph's bulleted lines as "List Bullet" paragraphs, its other lines joined by breaks."""
    for bullet, lines in line_groups(block.text):
        if bullet:
            for line in lines:
                document.add_paragraph(line, style="List Bullet")
        else:
            paragraph = document.add_paragraph()
            for index, line in enumerate(lines):
                run = paragraph.add_run(line)
                if index < len(lines) - 1:
                    run.add_break()


def to_docx(report: Report) -> bytes:
    """A Word document: headings, paragraphs with bullets, "Table Grid" tables with a bold header."""
    # python-docx is heavy and optional: imported only when a DOCX is exported.
    from docx import Document

    document = Document()
    document.core_properties.title = one_line(report.title)[:255]
    document.core_properties.author = AUTHOR
    document.add_heading(one_line(report.title), level=0)
    for block in report.blocks:
        if isinstance(block, Heading):
            document.add_heading(one_line(block.text), level=level(block))
        elif isinstance(block, Paragraph):
            _docx_paragraph(document, block)
        elif isinstance(block, Table) and block.columns:
            if shows_caption(block):
                document.add_paragraph().add_run(one_line(block.name)).bold = True
            _docx_table(document, block.columns, table_rows(block))

    document.add_heading("Sources", level=1)
    for citation in report.citations:
        marker, title, page = citation_line(citation)
        paragraph = document.add_paragraph()
        paragraph.add_run(marker).bold = True
        paragraph.add_run(f' {title}, {page}: "{clean(citation.quote)}"')
    if not report.citations:
        document.add_paragraph("No citations.")

    document.add_heading("Documents", level=1)
    for source in report.sources:
        paragraph = document.add_paragraph()
        paragraph.add_run(one_line(source.title)).bold = True
        for label, value in document_fields(source):
            paragraph.add_run().add_break()
            paragraph.add_run(f"{label}: {value}")
    if not report.sources:
        document.add_paragraph("No documents.")

    document.add_heading("Provenance", level=1)
    _docx_table(document, PROVENANCE_COLUMNS, [[label, value] for label, value in report.provenance])

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
