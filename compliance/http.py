"""What the compliance pages (`views.py`) and the compliance API (`api.py`) share: the audit
entries of requests and reviews, and the exports of every kind of record."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404

from audit.services import Action, audit_record, text_sha256
from compliance import reports, selectors
from compliance.exporting import export_response
from compliance.models import Comparison, ExtractionRun, ExtractionValue, RecordStatus, Summary
from search import selectors as search_selectors


def audit_review(request: Any, value: ExtractionValue, previous: object) -> None:
    """A review in the audit trail: who, which value, what was done, and hashes of the values —
    the values themselves are document content, which the trail never holds."""
    audit_record(
        action=Action.EXTRACTION_REVIEW,
        request=request,
        target_type="extractionvalue",
        target_id=value.pk,
        details={
            "run": value.run_id,
            "document_id": value.document_id,
            "field": value.field,
            "action": value.review,
            "previous_sha256": text_sha256(json.dumps(previous, sort_keys=True)),
            "new_sha256": text_sha256(json.dumps(value.current_value, sort_keys=True)),
        },
    )


def audit_record_request(request: Any, action: Action, record: Any) -> None:
    audit_record(
        action=action,
        request=request,
        target_type=type(record).__name__.lower(),
        target_id=record.pk,
        details={"documents": sorted(record.source_document_ids)},
    )


def summary_export(request: Any, summary_id: int, fmt: str) -> HttpResponse:
    summary = selectors.record_get(request.user, selectors.summaries_visible_to(request.user), summary_id)
    finished_or_404(summary)
    return export_response(request, "summary", summary.pk, lambda: reports.summary_report(summary, request.user), fmt)


def comparison_export(request: Any, comparison_id: int, fmt: str) -> HttpResponse:
    comparison = selectors.record_get(request.user, selectors.comparisons_visible_to(request.user), comparison_id)
    finished_or_404(comparison)
    return export_response(
        request, "comparison", comparison.pk, lambda: reports.comparison_report(comparison, request.user), fmt
    )


def extraction_export(request: Any, run: ExtractionRun, fmt: str) -> HttpResponse:
    """A run the caller found visible (the browser and the API refuse non-officers differently)."""
    finished_or_404(run)
    values = list(run.values.select_related("reviewed_by"))
    return export_response(
        request, "extraction", run.pk, lambda: reports.extraction_report(run, values, request.user), fmt
    )


def answer_export(request: Any, answer_id: int, fmt: str) -> HttpResponse:
    """An answer the user asked (browser or API): their own, and not withheld."""
    answer = get_object_or_404(search_selectors.answers_of(request.user), pk=answer_id)
    (answer,) = search_selectors.answers_checked(request.user, [answer])
    if answer.text == search_selectors.WITHHELD_TEXT:
        raise PermissionDenied(search_selectors.WITHHELD_TEXT)
    return export_response(request, "answer", answer.pk, lambda: reports.answer_report(answer, request.user), fmt)


def conversation_export(request: Any, conversation_id: int, fmt: str) -> HttpResponse:
    conversation = get_object_or_404(search_selectors.conversations_of(request.user), pk=conversation_id)
    answers = search_selectors.answers_checked(request.user, conversation.answers.order_by("pk"))
    return export_response(
        request,
        "conversation",
        conversation.pk,
        lambda: reports.conversation_report(conversation, answers, request.user),
        fmt,
    )


def finished_or_404(record: Summary | Comparison | ExtractionRun) -> None:
    """Only finished work is exported: a half-made record is not evidence."""
    if record.status != RecordStatus.DONE:
        raise Http404(f"This record is {record.status}; it can be exported once it is done.")
