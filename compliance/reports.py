"""Stored records → the neutral export `Report`: the same record always gives the same export.

Only what the record holds is used (its text, citations, rows, values, sources and model), never
a fresh search or generation, so an export made a year later reproduces the one made today; the
provenance section says who produced the record and when, from which document versions, with
which model and prompt version, and who exported it and when.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from compliance.exports.model import Block, Citation, Heading, Paragraph, Report, SourceDocument, Table
from compliance.models import Comparison, ComplianceRecord, ExtractionRun, ExtractionValue, Summary
from ingest.models import Document
from search.models import Answer, Conversation

User = AbstractBaseUser | AnonymousUser


def _citations(items: Iterable[dict[str, Any]]) -> list[Citation]:
    return [
        Citation(
            n=int(c["n"]),
            document_id=int(c["document_id"]),
            title=str(c.get("title", "")),
            version=c.get("version"),
            page=c.get("page"),
            quote=str(c.get("quote", "")),
        )
        for c in items
    ]


def _sources(sources: Iterable[dict[str, Any]]) -> list[SourceDocument]:
    return [
        SourceDocument(
            document_id=int(s["document_id"]),
            title=str(s["title"]),
            path=str(s["path"]),
            version=int(s["version"]),
            sha256=str(s["sha256"]),
            collection=str(s["collection"]),
        )
        for s in sources
    ]


def _sources_of_documents(documents: Iterable[Document]) -> list[SourceDocument]:
    return [
        SourceDocument(d.pk, d.title, d.path, d.version, d.sha256, d.collection.name)
        for d in documents  # answers keep chunk ids, not versions: their documents are immutable rows
    ]


def _who(user: Any) -> str:
    return user.get_username() if user is not None else "a deleted user"


def _provenance(record: ComplianceRecord | Answer, what: str, exported_by: User) -> list[tuple[str, str]]:
    created_by = record.created_by if isinstance(record, ComplianceRecord) else record.user
    rows = [
        ("Record", f"{what} {record.pk}"),
        ("Produced by", _who(created_by)),
        ("Produced at", record.created_at.isoformat(timespec="seconds")),
        ("Backend", record.backend or "none"),
        ("Model", record.model_name or "none (no generative model)"),
        ("Prompt version", record.prompt_version or "none"),
    ]
    rows.append(("Exported by", _who(exported_by) if exported_by.is_authenticated else "anonymous"))
    rows.append(("Exported at", timezone.now().isoformat(timespec="seconds")))
    return rows


def summary_report(summary: Summary, exported_by: User) -> Report:
    blocks: list[Block] = [Heading("Overview"), Paragraph(summary.text)]
    if summary.sections:
        blocks.append(Heading("Section by section"))
        for section in summary.sections:
            pages = f" ({section['pages']})" if section.get("pages") else ""
            blocks += [Heading(f"{section['heading']}{pages}", level=3), Paragraph(section["text"])]
    provenance = [("Kind", Summary.Kind(summary.kind).label), *_provenance(summary, "Summary", exported_by)]
    return Report(
        title=summary.title or f"Summary {summary.pk}",
        kind="summary",
        blocks=blocks,
        citations=_citations(summary.citations),
        sources=_sources(summary.sources),
        provenance=provenance,
    )


def _side(unit: dict[str, Any] | None) -> tuple[str, str, str]:
    if not unit:
        return "", "", ""
    clause = " ".join(x for x in (unit.get("key", ""), unit.get("heading", "")) if x)
    return clause, str(unit.get("page") or ""), unit["text"]


def comparison_report(comparison: Comparison, exported_by: User) -> Report:
    rows = []
    for row in comparison.rows:
        left_clause, left_page, left_text = _side(row["left"])
        right_clause, right_page, right_text = _side(row["right"])
        rows.append(
            [
                row["kind"],
                "yes" if row["material"] else "",
                left_clause,
                left_page,
                left_text,
                right_clause,
                right_page,
                right_text,
            ]
        )
    counts = comparison.counts
    tally = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("changed", "added", "removed", "unchanged"))
    left, right = comparison.sources[0], comparison.sources[1]
    blocks: list[Block] = [
        Paragraph(
            f"Earlier: {left['title']} (version {left['version']})\n"
            f"Later: {right['title']} (version {right['version']})"
        ),
        Heading("Material changes"),
        Paragraph(comparison.text),
        Heading(f"All aligned clauses ({tally})"),
        Table(
            columns=[
                "Change",
                "Material",
                "Earlier clause",
                "Earlier page",
                "Earlier text",
                "Later clause",
                "Later page",
                "Later text",
            ],
            rows=rows,
            name="Comparison",
        ),
    ]
    return Report(
        title=f"Comparison: {left['title']} → {right['title']}",
        kind="comparison",
        blocks=blocks,
        citations=_citations(comparison.citations),
        sources=_sources(comparison.sources),
        provenance=_provenance(comparison, "Comparison", exported_by),
    )


def value_text(value: Any) -> str:
    """An extracted value as a reviewer reads it (page and export alike): lists joined, yes/no,
    "not found" for none."""
    if value is None:
        return "not found"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def extraction_report(run: ExtractionRun, values: Sequence[ExtractionValue], exported_by: User) -> Report:
    titles = {int(s["document_id"]): (s["title"], s["version"]) for s in run.sources}
    rows: list[list[str]] = []
    citations: list[Citation] = []
    for value in values:
        title, version = titles.get(value.document_id, (f"document {value.document_id}", None))
        reference = ""
        if value.found:
            citations.append(Citation(len(citations) + 1, value.document_id, title, version, value.page, value.quote))
            reference = f"[{len(citations)}]"
        reviewer = _who(value.reviewed_by) if value.reviewed_at else ""
        rows.append(
            [
                title,
                value.field,
                value_text(value.value),
                str(value.page or ""),
                value.quote,
                reference,
                value.note,
                value.get_review_display(),
                value_text(value.reviewed_value) if value.review == ExtractionValue.Review.CORRECTED else "",
                reviewer,
                value.reviewed_at.isoformat(timespec="seconds") if value.reviewed_at else "",
            ]
        )
    columns = [
        "Document",
        "Field",
        "Value found",
        "Page",
        "Source passage",
        "Citation",
        "Note",
        "Review",
        "Corrected value",
        "Reviewed by",
        "Reviewed at",
    ]
    provenance = [("Template", run.template_name), *_provenance(run, "Extraction", exported_by)]
    return Report(
        title=f"Extraction: {run.template_name} over {len(run.sources)} document(s)",
        kind="extraction",
        blocks=[Table(columns=columns, rows=rows, name="Extraction")],
        citations=citations,
        sources=_sources(run.sources),
        provenance=provenance,
    )


def _answer_blocks(answer: Answer, offset: int) -> tuple[list[Block], list[Citation]]:
    """One question and its answer; citation numbers shifted by `offset` so a conversation's stay unique."""

    citations = [
        Citation(c.n + offset, c.document_id, c.title, c.version, c.page, c.quote) for c in _citations(answer.citations)
    ]
    text = re.sub(r"\[(\d+)\]", lambda m: f"[{int(m.group(1)) + offset}]", answer.text or "")
    if answer.status == Answer.Status.FAILED:
        text = f"(No answer: {answer.error})"
    elif not answer.supported:
        text = "The documents hold no answer to this question." if not answer.text else text
    blocks: list[Block] = [Heading(f"Q: {answer.question}", level=3), Paragraph(text)]
    return blocks, citations


def _answer_documents(answers: Iterable[Answer]) -> list[SourceDocument]:
    ids: set[int] = set()
    for answer in answers:
        ids |= {int(c["document_id"]) for c in answer.citations}
    return _sources_of_documents(Document.objects.filter(pk__in=ids).select_related("collection").order_by("pk"))


def answer_report(answer: Answer, exported_by: User) -> Report:
    blocks, citations = _answer_blocks(answer, 0)
    return Report(
        title=f"Answer: {answer.question[:120]}",
        kind="answer",
        blocks=blocks,
        citations=citations,
        sources=_answer_documents([answer]),
        provenance=_provenance(answer, "Answer", exported_by),
    )


def conversation_report(conversation: Conversation, answers: Sequence[Answer], exported_by: User) -> Report:
    blocks: list[Block] = []
    citations: list[Citation] = []
    for answer in answers:
        answer_blocks, answer_citations = _answer_blocks(answer, len(citations))
        blocks += answer_blocks
        citations += answer_citations
    models = sorted({a.model_name or a.backend for a in answers if a.backend}) or ["none"]
    versions = sorted({a.prompt_version for a in answers if a.prompt_version}) or ["none"]
    provenance = [
        ("Record", f"Conversation {conversation.pk} ({len(answers)} questions)"),
        ("Produced by", _who(conversation.owner)),
        ("Produced at", conversation.created_at.isoformat(timespec="seconds")),
        ("Models", ", ".join(models)),
        ("Prompt versions", ", ".join(versions)),
        ("Exported by", _who(exported_by) if exported_by.is_authenticated else "anonymous"),
        ("Exported at", timezone.now().isoformat(timespec="seconds")),
    ]
    return Report(
        title=f"Conversation: {conversation.title}",
        kind="conversation",
        blocks=blocks,
        citations=citations,
        sources=_answer_documents(answers),
        provenance=provenance,
    )
