"""Exports of stored summaries, with provenance: the same record always exports the same content.

Markdown is rendered from the stored text with document text escaped; PDF uses reportlab
(pure Python, no browser or system fonts needed) with every string escaped for its markup.
"""

from __future__ import annotations

import io
import re
from xml.sax.saxutils import escape

from docanalyst.models import Summary

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|])")


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _provenance(summary: Summary) -> list[tuple[str, str]]:
    document = summary.document
    return [
        ("Document", f"{document.title} (id {document.pk}, {document.original_name})"),
        ("Document SHA-256", summary.document_sha256),
        ("Collection", document.collection.name),
        ("Produced by", summary.created_by.get_username() if summary.created_by else "unknown"),
        ("Produced at", summary.created_at.isoformat(timespec="seconds")),
        ("Backend", summary.backend),
        ("Model", summary.model_name or "none (extractive)"),
        ("Prompt version", summary.prompt_version),
        ("Summary id", str(summary.pk)),
    ]


def _page(citation: dict[str, object]) -> str:
    return f"page {citation['page']}" if citation.get("page") else "no page"


def summary_to_markdown(summary: Summary) -> str:
    lines = [f"# Summary: {_md_escape(summary.document.title)}", ""]
    # Citation markers [n] are ours; everything else from the text is escaped.
    body = _md_escape(summary.text)
    body = re.sub(r"\\\[(\d+)\\\]", r"[\1]", body)
    body = re.sub(r"^\\- ", "- ", body, flags=re.MULTILINE)
    lines += [body, "", "## Sources", ""]
    for c in summary.citations:
        lines.append(f'[{c["n"]}] {_md_escape(str(c["title"]))}, {_page(c)}: "{_md_escape(str(c["quote"]))}"')
        lines.append("")
    lines += ["## Provenance", ""]
    lines += [f"- **{name}:** {_md_escape(value)}" for name, value in _provenance(summary)]
    return "\n".join(lines) + "\n"


def summary_to_pdf(summary: Summary) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(buffer, pagesize=A4, title=f"Summary: {summary.document.title}", author="DocAnalyst")
    story = [Paragraph(escape(f"Summary: {summary.document.title}"), styles["Title"])]
    for paragraph in summary.text.split("\n"):
        if paragraph.strip():
            story.append(Paragraph(escape(paragraph), styles["BodyText"]))
    story += [Spacer(1, 12), Paragraph("Sources", styles["Heading2"])]
    for c in summary.citations:
        story.append(Paragraph(escape(f'[{c["n"]}] {c["title"]}, {_page(c)}: "{c["quote"]}"'), styles["BodyText"]))
    story += [Spacer(1, 12), Paragraph("Provenance", styles["Heading2"])]
    for name, value in _provenance(summary):
        story.append(Paragraph(f"<b>{escape(name)}:</b> {escape(value)}", styles["BodyText"]))
    pdf.build(story)
    return buffer.getvalue()
