"""A `Report` as GitHub-flavoured Markdown, with document text escaped so it cannot inject markup or HTML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from compliance.exports.model import Heading, Paragraph, Report, Table
from compliance.exports.text import (
    citation_line,
    clean,
    document_fields,
    level,
    line_groups,
    one_line,
    shows_caption,
    table_rows,
)

# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|])")
# Our own markers, once escaped; not restored when "(" or ":" follows, which would make a link
# or a link reference definition out of document text.
_MD_ESCAPED_MARKER = re.compile(r"\\\[(\d+)\\\](?![(:])")
_MD_LIST_OR_RULE_START = re.compile(r"^([-+=~])")
_MD_ORDERED_START = re.compile(r"^(\d{1,9})([.)])")


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", clean(text))


def _md_line_start(text: str) -> str:
    """Escape what would start a list, rule, setext heading or code block at the start of a line."""
    text = text.lstrip(" \t")
    text = _MD_LIST_OR_RULE_START.sub(r"\\\1", text)
    return _MD_ORDERED_START.sub(r"\1\\\2", text)


def _md_inline(text: str) -> str:
    """Untrusted text on one line: every markup character escaped."""
    return _md_line_start(_md_escape(one_line(text)))


def _md_prose(text: str) -> str:
    """Our own prose (paragraph lines): escaped, but citation markers [n] stay readable."""
    return _md_line_start(_MD_ESCAPED_MARKER.sub(r"[\1]", _md_escape(text)))


def _md_cell(text: str) -> str:
    return _md_escape(one_line(text))


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
            out += ["#" * (level(block) + 1) + " " + _md_inline(block.text), ""]
        elif isinstance(block, Paragraph):
            for bullet, lines in line_groups(block.text):
                if bullet:
                    out += [f"- {_md_prose(line)}" for line in lines]
                else:
                    out.append("  \n".join(_md_prose(line) for line in lines))
                out.append("")
        elif isinstance(block, Table) and block.columns:
            if shows_caption(block):
                out += [f"**{_md_inline(block.name)}**", ""]
            out += [*_md_table(block.columns, table_rows(block)), ""]

    out += ["## Sources", ""]
    for citation in report.citations:
        marker, title, page = citation_line(citation)
        out += [f'{marker} {_md_escape(title)}, {page}: "{_md_escape(one_line(citation.quote))}"', ""]
    if not report.citations:
        out += ["No citations.", ""]

    out += ["## Documents", ""]
    for document in report.sources:
        fields = "; ".join(f"{label}: {_md_escape(value)}" for label, value in document_fields(document))
        out.append(f"- **{_md_inline(document.title)}** — {fields}")
    if not report.sources:
        out.append("No documents.")
    out.append("")

    out += ["## Provenance", ""]
    out += [f"- **{_md_inline(label)}**: {_md_escape(one_line(value))}" for label, value in report.provenance]
    out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
