"""REST endpoints for search, questions and summaries (`/api/v1/`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from docanalyst import selectors as read_selectors
from docanalyst.backends.llm import LLMUnavailable
from docanalyst.services import answers, exports, summaries
from docanalyst.services.search import chunks_search
from ingest import selectors

EXPORT_FORMATS = ("md", "pdf")


def page_url(document_id: int, page: int | None, chunk_id: int | None = None) -> str:
    """Where a citation leads: the document's page, with the cited passage highlighted."""
    url = reverse("document-page", args=[document_id, page or 1])
    return f"{url}?chunk={chunk_id}#chunk-{chunk_id}" if chunk_id else url


class CitationSerializer(serializers.Serializer[Any]):
    n = serializers.IntegerField()
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    quote = serializers.CharField()
    url = serializers.CharField()


def citations_with_urls(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "url": page_url(c["document_id"], c["page"], c.get("chunk_id"))} for c in citations]


class SearchApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("collection", int, many=True, required=False),
            OpenApiParameter("k", int, required=False),
        ],
        responses=inline_serializer(
            "SearchResults",
            {
                "query": serializers.CharField(),
                "results": inline_serializer(
                    "SearchResult",
                    {
                        "document_id": serializers.IntegerField(),
                        "title": serializers.CharField(),
                        "page": serializers.IntegerField(allow_null=True),
                        "text": serializers.CharField(),
                        "score": serializers.FloatField(),
                        "chunk_id": serializers.IntegerField(),
                        "collection_id": serializers.IntegerField(),
                        "url": serializers.CharField(),
                    },
                    many=True,
                ),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = request.query_params.get("q", "")
        if not query.strip():
            return Response({"detail": "The query parameter q is required."}, status=status.HTTP_400_BAD_REQUEST)
        collection_ids = [int(c) for c in request.query_params.getlist("collection") if c.isdigit()]
        k_raw = request.query_params.get("k", "")
        hits = chunks_search(
            user=request.user,
            query=query,
            collection_ids=collection_ids or None,
            k=int(k_raw) if k_raw.isdigit() else None,
        )
        results = [
            {
                "document_id": h.document.pk,
                "title": h.document.title,
                "page": h.page,
                "text": h.chunk.text,
                "score": round(h.score, 4),
                "chunk_id": h.chunk.pk,
                "collection_id": h.document.collection_id,
                "url": page_url(h.document.pk, h.page, h.chunk.pk),
            }
            for h in hits
        ]
        return Response({"query": query, "results": results})


class AskRequestSerializer(serializers.Serializer[Any]):
    question = serializers.CharField(max_length=2000)
    collections = serializers.ListField(child=serializers.IntegerField(), required=False)
    stream = serializers.BooleanField(required=False, default=False)


def _sse(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        if event["type"] == "done":
            event = {**event, "citations": citations_with_urls(event["citations"])}
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


class AskApi(APIView):
    @extend_schema(
        request=AskRequestSerializer,
        responses=inline_serializer(
            "AskResult",
            {
                "answer": serializers.CharField(),
                "supported": serializers.BooleanField(),
                "backend": serializers.CharField(),
                "model": serializers.CharField(),
                "citations": CitationSerializer(many=True),
            },
        ),
        description="With `stream: true` the answer arrives as server-sent events: `delta` events "
        "with text, then one `done` event (answer and citations) or one `error` event.",
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        serializer = AskRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        question = serializer.validated_data["question"]
        collection_ids = serializer.validated_data.get("collections") or None
        if serializer.validated_data["stream"]:
            events = answers.answer_question_stream(user=request.user, question=question, collection_ids=collection_ids)
            response = StreamingHttpResponse(_sse(events), content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            return response
        try:
            result = answers.answer_question(user=request.user, question=question, collection_ids=collection_ids)
        except LLMUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(
            {
                "answer": result.answer,
                "supported": result.supported,
                "backend": result.backend,
                "model": result.model,
                "citations": citations_with_urls(result.citations_as_dicts()),
            }
        )


def summary_payload(summary: Any) -> dict[str, Any]:
    return {
        "id": summary.pk,
        "document_id": summary.document_id,
        "summary": summary.text,
        "backend": summary.backend,
        "model": summary.model_name,
        "created_at": summary.created_at.isoformat(),
        "citations": citations_with_urls(summary.citations),
        "exports": {
            "markdown": reverse("api-summary-export", args=[summary.pk, "md"]),
            "pdf": reverse("api-summary-export", args=[summary.pk, "pdf"]),
        },
    }


class DocumentSummaryApi(APIView):
    @extend_schema(
        request=None, responses={201: inline_serializer("SummaryResult", {"summary": serializers.CharField()})}
    )
    def post(self, request: Request, document_id: int) -> Response:
        document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
        try:
            summary = summaries.summary_create(user=request.user, document=document)
        except summaries.SummaryNotPossible as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except LLMUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(summary_payload(summary), status=status.HTTP_201_CREATED)


class SummaryDetailApi(APIView):
    def get(self, request: Request, summary_id: int) -> Response:
        summary = get_object_or_404(read_selectors.summaries_visible_to(request.user), pk=summary_id)
        return Response(summary_payload(summary))


def export_response(summary: Any, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404(f"Unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}.")
    stem = f"summary-{summary.pk}"
    if fmt == "md":
        response = HttpResponse(exports.summary_to_markdown(summary), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stem}.md"'
    else:
        response = HttpResponse(exports.summary_to_pdf(summary), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
    return response


class SummaryExportApi(APIView):
    @extend_schema(responses={(200, "text/markdown"): bytes, (200, "application/pdf"): bytes})
    def get(self, request: Request, summary_id: int, fmt: str) -> HttpResponse:
        summary = get_object_or_404(read_selectors.summaries_visible_to(request.user), pk=summary_id)
        return export_response(summary, fmt)
