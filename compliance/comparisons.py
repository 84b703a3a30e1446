"""Comparison of two documents, or two versions of one, made in the worker.

Both documents are cut into clause-level units and aligned by structure (clause numbers) and
meaning (embeddings); see `alignment`. The record keeps every aligned row with both pages, and a
short summary of the material changes: written by the language model when one is configured, each
sentence citing the changes it describes, or else listed extractively, one line per change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.conf import settings

from backends import prompts
from backends.embedder import get_embedder
from backends.llm import get_llm
from compliance.alignment import Row, SourceChunk, Unit, align, describe, material_changes, units_of
from compliance.models import Comparison
from compliance.records import Progress, RecordNotPossible, documents_ready, record_finish, record_queue, sources_of
from compliance.summaries import not_a_citation
from ingest.models import Document
from ingest.selectors import User
from search.citations import CITATION, MAX_QUOTE_CHARS

MAX_CHANGES_FOR_MODEL = 60


def comparison_request(*, user: User, left: Document, right: Document) -> Comparison:
    """A queued comparison of two readable documents (the caller checked they are readable)."""
    if left.pk == right.pk:
        raise RecordNotPossible("Choose two different documents (or two versions of one) to compare.")
    documents_ready([left, right])
    comparison = Comparison.objects.create(
        created_by=user if user.is_authenticated else None,
        left=left,
        right=right,
        sources=sources_of([left, right]),
    )
    record_queue(comparison)
    return comparison


def _units(document: Document) -> list[Unit]:
    chunks = [
        SourceChunk(chunk_id=c.pk, text=c.text, page=c.page_number, section=c.section)
        for c in document.chunks.order_by("ordinal")
    ]
    return units_of(chunks)


def _unit_json(unit: Unit | None) -> dict[str, Any] | None:
    if unit is None:
        return None
    return {"key": unit.key, "heading": unit.heading, "text": unit.text, "page": unit.page, "chunk_id": unit.chunk_id}


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "material": row.material,
        "similarity": round(float(row.similarity), 4),
        "left": _unit_json(row.left),
        "right": _unit_json(row.right),
        "changes": [[c.op, c.left, c.right] for c in row.changes],
        "description": describe(row),
    }


def _encode(texts: list[str]) -> Any:

    return np.asarray(get_embedder().encode(texts), dtype=np.float32)


def _citations_for(rows: Sequence[Row], left: Document, right: Document) -> tuple[list[dict[str, Any]], list[str]]:
    """Each material change cited on both sides: [a] the earlier passage, [b] the later one."""
    citations: list[dict[str, Any]] = []
    marks: list[str] = []
    for row in rows:
        mark = ""
        for document, unit in ((left, row.left), (right, row.right)):
            if unit is None:
                continue
            citations.append(
                {
                    "n": len(citations) + 1,
                    "document_id": document.pk,
                    "title": document.title,
                    "version": document.version,
                    "page": unit.page,
                    "chunk_id": unit.chunk_id,
                    "quote": unit.text[:MAX_QUOTE_CHARS],
                }
            )
            mark += f"[{len(citations)}]"
        marks.append(mark)
    return citations, marks


def comparison_build(comparison: Comparison, progress: Progress) -> None:
    left, right = comparison.left, comparison.right
    progress(0.05, "cutting both documents into clauses")
    left_units, right_units = _units(left), _units(right)
    if not left_units or not right_units:
        raise RecordNotPossible("One of the documents has no text to compare.")
    progress(0.2, f"aligning {len(left_units)} and {len(right_units)} clauses")
    rows = align(left_units, right_units, _encode)
    material = material_changes(rows)
    citations, marks = _citations_for(material, left, right)
    # Document text quoted in a line may hold "[3]": not one of our citation marks, shown as "(3)".
    lines = [f"- {not_a_citation(describe(row))} {mark}".rstrip() for row, mark in zip(material, marks, strict=True)]
    counts = {kind: sum(1 for r in rows if r.kind == kind) for kind in ("added", "removed", "changed", "unchanged")}
    llm = get_llm()
    if llm is None or not material:
        text = "\n".join(lines) if lines else "No material differences were found."
        backend, model, version = "extractive", "", "comparison-extractive-v1"
    else:
        progress(0.7, "summarizing the material changes")
        shown = material[:MAX_CHANGES_FOR_MODEL]
        changes = [
            prompts.PromptPassage(n=i + 1, title=row.kind, page=None, text=describe(row)) for i, row in enumerate(shown)
        ]
        reply = llm.complete(
            prompts.comparison_messages(left.title, right.title, changes), settings.LLM_MAX_ANSWER_TOKENS
        )
        summary_lines = []
        for sentence in (s.strip(" -*\t") for s in reply.splitlines()):
            cited = [int(n) for n in CITATION.findall(sentence) if 1 <= int(n) <= len(shown)]
            clean = CITATION.sub("", sentence).strip()
            if clean and cited:  # an uncited claim about the changes is not kept
                summary_lines.append(f"- {clean} " + "".join(marks[n - 1] for n in dict.fromkeys(cited)))
        # The model's overview, then every material change listed: nothing rests on the model alone.
        text = "\n".join(summary_lines) + ("\n\nAll material changes:\n" if summary_lines else "") + "\n".join(lines)
        backend, model, version = "openai", llm.model, prompts.COMPARISON_PROMPT_VERSION
    record_finish(
        comparison,
        rows=[_row_json(row) for row in rows],
        text=text,
        citations=citations,
        counts=counts,
        backend=backend,
        model_name=model,
        prompt_version=version,
    )
