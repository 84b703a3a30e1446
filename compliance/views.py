"""Browser pages for compliance work: summaries, comparisons, extraction tables and their review,
and the exports of everything a user can produce (answers and conversations included).

Work is queued and made in the worker; its page polls the record's progress with htmx and shows
the result when it is done. Every page and export answers 404 for a record made from a document
the user cannot read.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from audit.services import Action, audit_record
from compliance import comparisons, extractions, selectors, summaries
from compliance.http import (
    answer_export,
    audit_record_request,
    audit_review,
    comparison_export,
    conversation_export,
    extraction_export,
    summary_export,
)
from compliance.models import ExtractionRun, ExtractionValue, Summary
from compliance.records import RecordNotPossible
from compliance.selection import documents_selected
from docanalyst.http import HtmxHttpRequest, rate_limited
from docanalyst.roles import is_compliance_officer
from docanalyst.validation import loads_bounded, parse_id
from ingest import selectors as ingest_selectors

EXPORT_LABELS = {"pdf": "PDF", "docx": "Word", "md": "Markdown", "csv": "CSV", "xlsx": "Excel"}


def _summarize_rate(group: str, request: HtmxHttpRequest) -> str:
    return str(settings.RATE_LIMIT_SUMMARIZE)


class BadInput(ValueError):
    """A form value that is not what its field takes; the message names the field."""


def _ids(request: HtmxHttpRequest, name: str) -> list[int]:
    found = []
    for value in request.POST.getlist(name):
        if value.strip():
            number = parse_id(value)
            if number is None:
                raise BadInput(f"{name}: {value.strip()[:40]!r} is not an id.")
            found.append(number)
    return found


def _optional_id(request: HtmxHttpRequest, name: str) -> int | None:
    ids = _ids(request, name)
    return ids[0] if ids else None


def _require_compliance(request: HtmxHttpRequest) -> None:
    if not is_compliance_officer(request.user):
        raise PermissionDenied("Comparisons' and extractions' tables are for compliance officers.")


def _too_many(request: HtmxHttpRequest) -> HttpResponse | None:
    if getattr(request, "limited", False):
        return rate_limited("summaries, comparisons or extractions", settings.RATE_LIMIT_SUMMARIZE)
    return None


def _hub_context(request: HtmxHttpRequest, error: str = "") -> dict[str, Any]:
    user = request.user
    checked = selectors.records_checked
    return {
        "error": error,
        "collections": ingest_selectors.collections_readable_by(user),
        "documents": ingest_selectors.documents_visible_to(user)
        .filter(is_latest=True, status="ready")
        .order_by("collection__name", "path")[:500],
        "kinds": Summary.Kind.choices,
        "templates": selectors.extraction_templates(),
        "summaries": checked(user, selectors.summaries_visible_to(user)[:30]),
        "comparisons": checked(user, selectors.comparisons_visible_to(user)[:30]),
        "runs": checked(user, selectors.extraction_runs_visible_to(user)[:30]),
        "is_compliance": is_compliance_officer(user),
    }


@login_required
def compliance_view(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "compliance/hub.html", _hub_context(request))


def _refused(request: HtmxHttpRequest, error: str) -> HttpResponse:
    return render(request, "compliance/hub.html", _hub_context(request, error), status=400)


@login_required
@require_POST
@ratelimit(key="user", rate=_summarize_rate, method="POST", block=False)
def summary_create_view(request: HtmxHttpRequest) -> HttpResponse:
    """A summary of the selected documents, or of a collection's folder; made in the worker."""
    if limited := _too_many(request):
        return limited
    try:
        selected = _ids(request, "document"), _optional_id(request, "collection")
    except BadInput as exc:
        return _refused(request, str(exc))
    documents, _ = documents_selected(request.user, *selected, request.POST.get("folder"))
    try:
        summary = summaries.summary_request(
            user=request.user, documents=documents, kind=request.POST.get("kind", Summary.Kind.EXECUTIVE)
        )
    except RecordNotPossible as exc:
        return _refused(request, str(exc))
    audit_record_request(request, Action.SUMMARY_REQUEST, summary)
    return redirect("summary-detail", summary.pk)


@login_required
def summary_detail_view(request: HtmxHttpRequest, summary_id: int) -> HttpResponse:
    summary = selectors.record_get(request.user, selectors.summaries_visible_to(request.user), summary_id)
    template = "compliance/_summary_body.html" if request.htmx else "compliance/summary.html"
    return render(request, template, {"record": summary, "formats": ("pdf", "docx", "md"), "labels": EXPORT_LABELS})


@login_required
@require_POST
@ratelimit(key="user", rate=_summarize_rate, method="POST", block=False)
def comparison_create_view(request: HtmxHttpRequest) -> HttpResponse:
    if limited := _too_many(request):
        return limited
    try:
        left_id, right_id = _optional_id(request, "left"), _optional_id(request, "right")
    except BadInput as exc:
        return _refused(request, str(exc))
    if left_id is None or right_id is None:
        return _refused(request, "Choose the two documents to compare.")
    if left_id == right_id:
        return _refused(request, "Choose two different documents (or two versions of one) to compare.")
    (left, right), _ = documents_selected(request.user, [left_id, right_id])
    try:
        comparison = comparisons.comparison_request(user=request.user, left=left, right=right)
    except RecordNotPossible as exc:
        return _refused(request, str(exc))
    audit_record_request(request, Action.COMPARISON_REQUEST, comparison)
    return redirect("comparison-detail", comparison.pk)


@login_required
def comparison_detail_view(request: HtmxHttpRequest, comparison_id: int) -> HttpResponse:
    comparison = selectors.record_get(request.user, selectors.comparisons_visible_to(request.user), comparison_id)
    template = "compliance/_comparison_body.html" if request.htmx else "compliance/comparison.html"
    context = {"record": comparison, "formats": ("pdf", "docx", "md", "csv", "xlsx"), "labels": EXPORT_LABELS}
    return render(request, template, context)


@login_required
@require_POST
@ratelimit(key="user", rate=_summarize_rate, method="POST", block=False)
def extraction_create_view(request: HtmxHttpRequest) -> HttpResponse:
    _require_compliance(request)
    if limited := _too_many(request):
        return limited
    try:
        selected = _ids(request, "document"), _optional_id(request, "collection")
        template_id = _optional_id(request, "template")
    except BadInput as exc:
        return _refused(request, str(exc))
    documents, collection = documents_selected(request.user, *selected, request.POST.get("folder"))
    template = get_object_or_404(selectors.extraction_templates(), pk=template_id or 0)
    try:
        run = extractions.extraction_request(
            user=request.user, template=template, documents=documents, collection=collection
        )
    except RecordNotPossible as exc:
        return _refused(request, str(exc))
    audit_record_request(request, Action.EXTRACTION_REQUEST, run)
    return redirect("extraction-detail", run.pk)


def _run_for(request: HtmxHttpRequest, run_id: int) -> ExtractionRun:
    return selectors.record_get(request.user, selectors.extraction_runs_visible_to(request.user), run_id)


@login_required
def extraction_detail_view(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = _run_for(request, run_id)
    context = {
        "record": run,
        "values": run.values.select_related("document", "reviewed_by").prefetch_related("history__author"),
        "formats": ("pdf", "docx", "md", "csv", "xlsx"),
        "labels": EXPORT_LABELS,
    }
    template = "compliance/_extraction_body.html" if request.htmx else "compliance/extraction.html"
    return render(request, template, context)


@login_required
@require_POST
def extraction_review_view(request: HtmxHttpRequest, run_id: int, value_id: int) -> HttpResponse:
    """Approve or correct one value; the review is kept with its author and in the audit trail."""
    run = _run_for(request, run_id)
    value = get_object_or_404(ExtractionValue.objects.filter(run=run), pk=value_id)
    previous = value.current_value
    try:
        extractions.extraction_value_review(
            user=request.user,
            value=value,
            action=request.POST.get("action", ""),
            corrected=request.POST.get("value", ""),
            comment=request.POST.get("comment", ""),
        )
    except extractions.TemplateInvalid as exc:
        return render(request, "compliance/_value_row.html", {"value": value, "record": run, "error": str(exc)})
    audit_review(request, value, previous)
    if request.htmx:
        return render(request, "compliance/_value_row.html", {"value": value, "record": run})
    return redirect("extraction-detail", run.pk)


@login_required
def extraction_templates_view(request: HtmxHttpRequest) -> HttpResponse:
    """The templates, and a form to add one (compliance officers)."""
    _require_compliance(request)
    error = ""
    if request.method == "POST":
        try:
            schema = loads_bounded(request.POST.get("schema", ""))
            template = extractions.template_create(
                user=request.user,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                schema=schema,
            )
        except json.JSONDecodeError as exc:
            error = f"The schema is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        except ValueError as exc:  # nested too deeply
            error = f"schema: {exc}"
        except extractions.TemplateInvalid as exc:
            error = str(exc)
        else:
            audit_record(
                action=Action.EXTRACTION_TEMPLATE, request=request, target_type="template", target_id=template.pk
            )
            return redirect("extraction-templates")
    templates = [(t, list(t.schema.get("properties", {}).items())) for t in selectors.extraction_templates()]
    context = {"templates": templates, "error": error, "posted": request.POST}
    return render(request, "compliance/templates.html", context, status=400 if error else 200)


# --- exports -------------------------------------------------------------------------------------------


@login_required
def summary_export_view(request: HtmxHttpRequest, summary_id: int, fmt: str) -> HttpResponse:
    return summary_export(request, summary_id, fmt)


@login_required
def comparison_export_view(request: HtmxHttpRequest, comparison_id: int, fmt: str) -> HttpResponse:
    return comparison_export(request, comparison_id, fmt)


@login_required
def extraction_export_view(request: HtmxHttpRequest, run_id: int, fmt: str) -> HttpResponse:
    return extraction_export(request, _run_for(request, run_id), fmt)


# The exports themselves, for the browser views above and the API alike.


@login_required
def answer_export_view(request: HtmxHttpRequest, answer_id: int, fmt: str) -> HttpResponse:
    return answer_export(request, answer_id, fmt)


@login_required
def conversation_export_view(request: HtmxHttpRequest, conversation_id: int, fmt: str) -> HttpResponse:
    return conversation_export(request, conversation_id, fmt)
