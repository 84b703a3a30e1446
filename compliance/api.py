"""REST endpoints for compliance work (`/api/v1/`): summaries, comparisons, extraction templates,
extraction runs and their review, and exports. Creating work answers 202 with the record, which
the client polls (`status`, `progress`) until it is `done` or `failed`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from audit.services import Action, audit_record
from compliance import comparisons, extractions, selectors, summaries
from compliance import serializers as R
from compliance.exports.render import FORMATS
from compliance.extractions import MAX_REVIEW_COMMENT
from compliance.http import (
    answer_export,
    audit_record_request,
    audit_review,
    comparison_export,
    conversation_export,
    extraction_export,
    summary_export,
)
from compliance.models import ComplianceRecord, ExtractionRun, ExtractionTemplate, ExtractionValue, Summary
from compliance.records import RecordNotPossible
from compliance.selection import documents_selected
from docanalyst.http import citations_with_urls
from docanalyst.roles import is_compliance_officer
from docanalyst.validation import IdField

TABLE_FORMATS = tuple(FORMATS)
TEXT_FORMATS = ("pdf", "docx", "md")


def _exports(name: str, pk: int, formats: tuple[str, ...]) -> dict[str, str]:
    return {fmt: reverse(name, args=[pk, fmt]) for fmt in formats}


def _work(record: ComplianceRecord) -> dict[str, Any]:
    return {
        "id": record.pk,
        "status": record.status,
        "stage": record.stage,
        "progress": record.progress,
        "error": record.error,
        "created_by": record.created_by.get_username() if record.created_by else None,
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "documents": record.sources,
        "backend": record.backend,
        "model": record.model_name,
        "prompt_version": record.prompt_version,
    }


def summary_payload(summary: Summary) -> dict[str, Any]:
    return {
        **_work(summary),
        "kind": summary.kind,
        "title": summary.title,
        "summary": summary.text,
        "sections": summary.sections,
        "citations": citations_with_urls(summary.citations),
        "exports": _exports("api-summary-export", summary.pk, TEXT_FORMATS),
    }


def _refusal(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


class SelectionSerializer(serializers.Serializer[Any]):
    documents = serializers.ListField(child=IdField(), required=False, default=list, max_length=2000)
    collection = IdField(required=False, help_text="Every latest ready document of a collection…")
    folder = serializers.CharField(required=False, allow_blank=True, help_text="…or of one folder of it.")


class SummaryRequestSerializer(SelectionSerializer):
    kind = serializers.ChoiceField(choices=Summary.Kind.choices, default=Summary.Kind.EXECUTIVE)


def _selected(request: Request, data: dict[str, Any]) -> tuple[list[Any], Any]:
    return documents_selected(request.user, data["documents"], data.get("collection"), data.get("folder"))


class SummaryListCreateApi(APIView):
    throttle_scope = "summarize"

    def get_throttles(self) -> list[Any]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses=R.SummaryListResponse, operation_id="summaries_list")
    def get(self, request: Request) -> Response:
        records = selectors.records_checked(request.user, selectors.summaries_visible_to(request.user)[:200])
        return Response({"summaries": [summary_payload(s) for s in records]})

    @extend_schema(
        request=SummaryRequestSerializer,
        responses={202: R.SummaryResponse},
        description="Queues a summary; poll it until `done`.",
    )
    def post(self, request: Request) -> Response:
        serializer = SummaryRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        documents, _ = _selected(request, serializer.validated_data)
        try:
            summary = summaries.summary_request(
                user=request.user, documents=documents, kind=serializer.validated_data["kind"]
            )
        except RecordNotPossible as exc:
            return _refusal(exc)
        audit_record_request(request, Action.SUMMARY_REQUEST, summary)
        return Response(summary_payload(summary), status=status.HTTP_202_ACCEPTED)


class SummaryDetailApi(APIView):
    @extend_schema(responses=R.SummaryResponse)
    def get(self, request: Request, summary_id: int) -> Response:
        summary = selectors.record_get(request.user, selectors.summaries_visible_to(request.user), summary_id)
        return Response(summary_payload(summary))


class SummaryExportApi(APIView):
    @extend_schema(responses={(200, content_type): bytes for content_type in FORMATS.values()})
    def get(self, request: Request, summary_id: int, fmt: str) -> HttpResponse:
        return summary_export(request, summary_id, fmt)


# --- comparisons ---------------------------------------------------------------------------------------


def comparison_payload(comparison: Any) -> dict[str, Any]:
    return {
        **_work(comparison),
        "left": comparison.left_id,
        "right": comparison.right_id,
        "summary": comparison.text,
        "counts": comparison.counts,
        "rows": comparison.rows,
        "citations": citations_with_urls(comparison.citations),
        "exports": _exports("api-comparison-export", comparison.pk, TABLE_FORMATS),
    }


class ComparisonRequestSerializer(serializers.Serializer[Any]):
    left = IdField(help_text="The earlier document (or version).")
    right = IdField(help_text="The later document (or version).")


class ComparisonListCreateApi(APIView):
    throttle_scope = "summarize"

    def get_throttles(self) -> list[Any]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses=R.ComparisonListResponse, operation_id="comparisons_list")
    def get(self, request: Request) -> Response:
        records = selectors.records_checked(request.user, selectors.comparisons_visible_to(request.user)[:200])
        return Response({"comparisons": [comparison_payload(c) for c in records]})

    @extend_schema(
        request=ComparisonRequestSerializer,
        responses={202: R.ComparisonResponse},
        description="Queues a comparison; poll it until `done`.",
    )
    def post(self, request: Request) -> Response:
        serializer = ComparisonRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        left_id, right_id = serializer.validated_data["left"], serializer.validated_data["right"]
        if left_id == right_id:
            return _refusal(RecordNotPossible("Choose two different documents (or two versions of one) to compare."))
        (left, right), _ = documents_selected(request.user, [left_id, right_id])
        try:
            comparison = comparisons.comparison_request(user=request.user, left=left, right=right)
        except RecordNotPossible as exc:
            return _refusal(exc)
        audit_record_request(request, Action.COMPARISON_REQUEST, comparison)
        return Response(comparison_payload(comparison), status=status.HTTP_202_ACCEPTED)


class ComparisonDetailApi(APIView):
    @extend_schema(responses=R.ComparisonResponse)
    def get(self, request: Request, comparison_id: int) -> Response:
        comparison = selectors.record_get(request.user, selectors.comparisons_visible_to(request.user), comparison_id)
        return Response(comparison_payload(comparison))


class ComparisonExportApi(APIView):
    @extend_schema(responses={(200, content_type): bytes for content_type in FORMATS.values()})
    def get(self, request: Request, comparison_id: int, fmt: str) -> HttpResponse:
        return comparison_export(request, comparison_id, fmt)


# --- extraction -----------------------------------------------------------------------------------------


def _compliance_only(request: Request) -> None:
    if not is_compliance_officer(request.user):
        raise PermissionDenied("Extraction is for compliance officers.")


def template_payload(template: ExtractionTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "name": template.name,
        "description": template.description,
        "builtin": template.builtin,
        "schema": template.schema,
    }


class TemplateRequestSerializer(serializers.Serializer[Any]):
    name = serializers.RegexField(
        r"^[\w.-](?:[\w .-]{0,98}[\w.-])?$",
        max_length=100,
        help_text="1 to 100 letters, digits, spaces, dots, dashes or underscores.",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    schema = serializers.DictField(help_text="A flat JSON schema: strings, numbers, yes/no, lists of strings.")


class ExtractionTemplateListCreateApi(APIView):
    @extend_schema(responses=R.TemplateListResponse, operation_id="extraction_templates_list")
    def get(self, request: Request) -> Response:
        _compliance_only(request)
        return Response({"templates": [template_payload(t) for t in selectors.extraction_templates()]})

    @extend_schema(request=TemplateRequestSerializer, responses={201: R.TemplateResponse})
    def post(self, request: Request) -> Response:
        _compliance_only(request)
        serializer = TemplateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            template = extractions.template_create(user=request.user, **serializer.validated_data)
        except extractions.TemplateInvalid as exc:
            return _refusal(exc)
        audit_record(action=Action.EXTRACTION_TEMPLATE, request=request, target_type="template", target_id=template.pk)
        return Response(template_payload(template), status=status.HTTP_201_CREATED)


def value_payload(value: ExtractionValue) -> dict[str, Any]:
    return {
        "id": value.pk,
        "document_id": value.document_id,
        "field": value.field,
        "found": value.found,
        "value": value.value,
        "quote": value.quote,
        "page": value.page,
        "chunk_id": value.chunk_id,
        "note": value.note,
        "review": value.review,
        "reviewed_value": value.reviewed_value,
        "reviewed_by": value.reviewed_by.get_username() if value.reviewed_by else None,
        "reviewed_at": value.reviewed_at.isoformat() if value.reviewed_at else None,
        "history": [
            {
                "action": h.action,
                "author": h.author.get_username() if h.author else None,
                "previous": h.previous,
                "new": h.new,
                "comment": h.comment,
                "at": h.created_at.isoformat(),
            }
            for h in value.history.all()
        ],
    }


def run_payload(run: ExtractionRun, with_values: bool = True) -> dict[str, Any]:
    payload = {
        **_work(run),
        "template": run.template_name,
        "schema": run.schema,
        "exports": _exports("api-extraction-export", run.pk, TABLE_FORMATS),
    }
    if with_values:
        values = run.values.select_related("reviewed_by").prefetch_related("history__author")
        payload["values"] = [value_payload(v) for v in values]
    return payload


class ExtractionRequestSerializer(SelectionSerializer):
    template = IdField()


class ExtractionListCreateApi(APIView):
    throttle_scope = "summarize"

    def get_throttles(self) -> list[Any]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses=R.ExtractionListResponse, operation_id="extractions_list")
    def get(self, request: Request) -> Response:
        _compliance_only(request)
        runs = selectors.records_checked(request.user, selectors.extraction_runs_visible_to(request.user)[:200])
        return Response({"extractions": [run_payload(r, with_values=False) for r in runs]})

    @extend_schema(
        request=ExtractionRequestSerializer,
        responses={202: R.ExtractionResponse},
        description="Queues an extraction; poll it until `done`.",
    )
    def post(self, request: Request) -> Response:
        _compliance_only(request)
        serializer = ExtractionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        documents, collection = _selected(request, serializer.validated_data)  # first: a 404 names no template
        template = get_object_or_404(selectors.extraction_templates(), pk=serializer.validated_data["template"])
        try:
            run = extractions.extraction_request(
                user=request.user, template=template, documents=documents, collection=collection
            )
        except RecordNotPossible as exc:
            return _refusal(exc)
        audit_record_request(request, Action.EXTRACTION_REQUEST, run)
        return Response(run_payload(run), status=status.HTTP_202_ACCEPTED)


def _run(request: Request, run_id: int) -> ExtractionRun:
    _compliance_only(request)
    return selectors.record_get(request.user, selectors.extraction_runs_visible_to(request.user), run_id)


class ExtractionDetailApi(APIView):
    @extend_schema(responses=R.ExtractionResponse)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(run_payload(_run(request, run_id)))


class ReviewSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=[ExtractionValue.Review.APPROVED, ExtractionValue.Review.CORRECTED])
    value = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=10_000,
        help_text='The corrected value (required with "corrected"; "" confirms the value is absent).',
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_REVIEW_COMMENT)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["action"] == ExtractionValue.Review.CORRECTED and "value" not in data:
            raise serializers.ValidationError({"value": 'A correction needs a value ("" confirms it is absent).'})
        return {**data, "value": data.get("value", "")}


class ExtractionReviewApi(APIView):
    @extend_schema(request=ReviewSerializer, responses=R.ExtractedValueResponse)
    def post(self, request: Request, run_id: int, value_id: int) -> Response:
        run = _run(request, run_id)
        value = get_object_or_404(ExtractionValue.objects.filter(run=run), pk=value_id)
        serializer = ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        previous = value.current_value
        try:
            extractions.extraction_value_review(
                user=request.user, value=value, action=data["action"], corrected=data["value"], comment=data["comment"]
            )
        except extractions.TemplateInvalid as exc:
            return _refusal(exc)
        audit_review(request, value, previous)
        return Response(value_payload(value))


class ExtractionExportApi(APIView):
    @extend_schema(responses={(200, content_type): bytes for content_type in FORMATS.values()})
    def get(self, request: Request, run_id: int, fmt: str) -> HttpResponse:
        return extraction_export(request, _run(request, run_id), fmt)


# --- answers and conversations ------------------------------------------------------------------------


class AnswerExportApi(APIView):
    @extend_schema(responses={(200, content_type): bytes for content_type in FORMATS.values()})
    def get(self, request: Request, answer_id: int, fmt: str) -> HttpResponse:
        return answer_export(request, answer_id, fmt)


class ConversationExportApi(APIView):
    @extend_schema(responses={(200, content_type): bytes for content_type in FORMATS.values()})
    def get(self, request: Request, conversation_id: int, fmt: str) -> HttpResponse:
        return conversation_export(request, conversation_id, fmt)
