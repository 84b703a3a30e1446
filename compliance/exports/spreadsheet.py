"""A `Report`'s tables as CSV or XLSX, followed by its Sources, Documents and Provenance.

Only a report with at least one table can be exported this way. Cells are neutralised so that no spreadsheet
reads document text as a formula: CSV cells get a leading `'`, XLSX cells are typed as strings.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from compliance.exports.model import Report, Table
from compliance.exports.text import (
    AUTHOR,
    DEFAULT_TABLE_NAME,
    PROVENANCE_COLUMNS,
    ExportNotAvailable,
    clean,
    kind_noun,
    one_line,
    table_rows,
)


def _require_tables(report: Report, fmt: str) -> list[Table]:
    tables = report.tables
    if not tables:
        raise ExportNotAvailable(
            f"This {kind_noun(report)} has no table, so it cannot be exported as {fmt.upper()}. "
            "Export it as PDF, DOCX or Markdown instead."
        )
    return tables


# --- CSV ----------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    text = clean(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _sources_rows(report: Report) -> list[list[str]]:
    rows = []
    for citation in report.citations:
        page = str(citation.page) if citation.page is not None else "no page"
        version = str(citation.version) if citation.version is not None else ""
        rows.append([f"[{citation.n}]", one_line(citation.title), version, page, clean(citation.quote)])
    return rows


def _documents_rows(report: Report) -> list[list[str]]:
    return [
        [one_line(d.title), clean(d.path), str(d.version), clean(d.sha256), clean(d.collection), str(d.document_id)]
        for d in report.sources
    ]


def _provenance_rows(report: Report) -> list[list[str]]:
    """Provenance, preceded by the report's title and kind (CSV and XLSX have no other place for them)."""
    rows = [["Report title", clean(report.title)], ["Report kind", clean(report.kind)]]
    return rows + [[clean(label), clean(value)] for label, value in report.provenance]


SOURCES_COLUMNS = ["n", "Title", "Version", "Page", "Quote"]
DOCUMENTS_COLUMNS = ["Title", "Path", "Version", "SHA-256", "Collection", "Document id"]


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
        rows += table_rows(table)
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
    base = " ".join(_SHEET_FORBIDDEN.sub(" ", clean(name)).split()).strip("'").strip()[:31].strip("'").strip()
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
    # openpyxl is heavy and optional: imported only when an XLSX is exported.
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(title=title)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    widths = [0] * len(columns)
    for row_index, row in enumerate([list(columns), *rows], start=1):
        for col_index, value in enumerate(row, start=1):
            text = clean(value)[:_XLSX_MAX_CELL]
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
    # openpyxl is heavy and optional: imported only when an XLSX is exported.
    from openpyxl import Workbook

    tables = _require_tables(report, "xlsx")
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.title = one_line(report.title)[:255]
    workbook.properties.creator = AUTHOR
    taken = {name.lower() for name in _RESERVED_SHEETS}
    for table in tables:
        _xlsx_sheet(workbook, _sheet_title(table.name, taken), table.columns, table_rows(table))
    _xlsx_sheet(workbook, "Sources", SOURCES_COLUMNS, _sources_rows(report))
    _xlsx_sheet(workbook, "Documents", DOCUMENTS_COLUMNS, _documents_rows(report))
    _xlsx_sheet(workbook, "Provenance", PROVENANCE_COLUMNS, _provenance_rows(report))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
