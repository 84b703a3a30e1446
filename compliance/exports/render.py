"""Render a `Report` to PDF, DOCX, Markdown, CSV or XLSX.

Every format carries the same content in the same order — title, blocks, "Sources" (each
citation with its verbatim quote), "Documents" (the exact versions and SHA-256 the report was
made from) and "Provenance" — so an export can be checked against its sources without the app.

Titles, quotes and table cells are untrusted document text, so each format neutralises what its
reader would interpret: reportlab's paragraph markup, Markdown/HTML, spreadsheet formulas (CSV
cells get a leading `'`, XLSX cells are typed as strings), and control characters that XML-based
formats reject. The PDF/DOCX/XLSX libraries are imported when first used, so web processes that
never export do not pay for them.

Each format is rendered by its own module (`markdown`, `spreadsheet` for CSV and XLSX, `word`, `pdf`); what
they share is in `text`.
"""

from __future__ import annotations

from compliance.exports.markdown import to_markdown
from compliance.exports.model import Report
from compliance.exports.pdf import to_pdf
from compliance.exports.spreadsheet import to_csv, to_xlsx
from compliance.exports.text import ExportNotAvailable
from compliance.exports.word import to_docx

__all__ = ["FORMATS", "ExportNotAvailable", "render", "to_csv", "to_docx", "to_markdown", "to_pdf", "to_xlsx"]


FORMATS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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
