"""What every export format shares: the error for a format that does not apply, cleaning of characters that
XML-based formats reject, and the report's parts (paragraph lines, table rows, citation and document lines) in
the form each format lays out."""

from __future__ import annotations

import re

from compliance.exports.model import Citation, Heading, Report, SourceDocument, Table


class ExportNotAvailable(ValueError):
    """The report cannot be exported in the requested format; the message is meant for the user."""


AUTHOR = "DocAnalyst"
DEFAULT_TABLE_NAME = "Table"
PROVENANCE_COLUMNS = ["Label", "Value"]

# Characters XML 1.0 cannot hold (python-docx raises on them, openpyxl refuses them); a superset of
# openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE that also covers lone surrogates and U+FFFE/U+FFFF.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: object) -> str:
    return _XML_ILLEGAL.sub("", str(value))


def one_line(value: object) -> str:
    return " ".join(clean(value).split())


def level(heading: Heading) -> int:
    return min(max(int(heading.level), 1), 3)


def table_rows(table: Table) -> list[list[str]]:
    """The rows padded or cut to the number of columns, so a malformed row cannot break a layout."""
    width = len(table.columns)
    return [[*(str(cell) for cell in row[:width]), *([""] * (width - len(row)))] for row in table.rows]


def shows_caption(table: Table) -> bool:
    return bool(table.name.strip()) and table.name != DEFAULT_TABLE_NAME


def _paragraph_lines(text: str) -> list[tuple[bool, str]]:
    """(is_bullet, text) for each line of a paragraph; "- " at the start of a line is a bullet."""
    lines = []
    for raw in clean(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.startswith("- "):
            lines.append((True, raw[2:]))
        else:
            lines.append((False, raw))
    return lines


def line_groups(text: str) -> list[tuple[bool, list[str]]]:
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


def citation_line(citation: Citation) -> tuple[str, str, str]:
    """The parts of `[n] <title> (version v), page p: "<quote>"`: marker, title with version, and place."""
    title = one_line(citation.title)
    if citation.version is not None:
        title = f"{title} (version {citation.version})"
    page = f"page {citation.page}" if citation.page is not None else "no page"
    return f"[{citation.n}]", title, page


def document_fields(document: SourceDocument) -> list[tuple[str, str]]:
    return [
        ("Path", one_line(document.path)),
        ("Version", str(document.version)),
        ("SHA-256", one_line(document.sha256)),
        ("Collection", one_line(document.collection)),
        ("Document id", str(document.document_id)),
    ]


def kind_noun(report: Report) -> str:
    return report.kind if report.kind in {"summary", "comparison", "extraction", "answer", "conversation"} else "report"
