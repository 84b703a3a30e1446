"""Exports of reports (summaries, comparisons, extractions, answers, conversations) to PDF, DOCX,
Markdown, CSV and XLSX, from one neutral model so every format carries the same content and
provenance. The rendering libraries load only when an export is made."""

from compliance.exports.model import Block, Citation, Heading, Paragraph, Report, SourceDocument, Table
from compliance.exports.render import (
    FORMATS,
    ExportNotAvailable,
    render,
    to_csv,
    to_docx,
    to_markdown,
    to_pdf,
    to_xlsx,
)

__all__ = [
    "FORMATS",
    "Block",
    "Citation",
    "ExportNotAvailable",
    "Heading",
    "Paragraph",
    "Report",
    "SourceDocument",
    "Table",
    "render",
    "to_csv",
    "to_docx",
    "to_markdown",
    "to_pdf",
    "to_xlsx",
]
