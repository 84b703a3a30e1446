"""REST endpoints for search and questions (`/api/v1/`); compliance work is in `compliance_api`."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from docanalyst.http import citations_with_urls, page_url, sse_response
from docanalyst.validation import MAX_ID, IdField
from search import answers, selectors
from search import serializers as R
from search.forms import PARAMETERS, SearchForm
from search.http import audit_search
from search.retrieval import FILE_TYPES, MAX_K, Method, chunks_search


class CitationSerializer(serializers.Serializer[Any]):
    n = serializers.IntegerField()
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    quote = serializers.CharField()
    url = serializers.CharField()


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# Text the forms take: no NUL character (Django refuses it), something besides spaces for a query.
QUERY = {"type": "string", "maxLength": 2000, "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"}
TEXT_1000 = {"type": "string", "maxLength": 1000, "pattern": "^[^\\u0000]*$"}


class SearchApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                QUERY,
                required=True,
                description='Words, "exact phrases", part numbers (at most 2,000 characters).',
            ),
            OpenApiParameter("collection", ID, many=True, required=False),
            OpenApiParameter("document", ID, many=True, required=False, description="Search inside these documents."),
            OpenApiParameter("type", str, many=True, required=False, enum=list(FILE_TYPES)),
            OpenApiParameter("folder", TEXT_1000, required=False, description="Folder path inside the collection."),
            OpenApiParameter("from", OpenApiTypes.DATE, required=False, description="Uploaded on or after."),
            OpenApiParameter("to", OpenApiTypes.DATE, required=False, description="Uploaded on or before."),
            OpenApiParameter("versions", bool, required=False, description="Include superseded versions."),
            OpenApiParameter("method", str, required=False, enum=[m.value for m in Method]),
            OpenApiParameter("k", {"type": "integer", "minimum": 1, "maximum": MAX_K}, required=False),
        ],
        responses=inline_serializer(
            "SearchResults",
            {
                "query": serializers.CharField(),
                "method": serializers.CharField(),
                "results": inline_serializer(
                    "SearchResult",
                    {
                        "document_id": serializers.IntegerField(),
                        "title": serializers.CharField(),
                        "path": serializers.CharField(),
                        "version": serializers.IntegerField(),
                        "page": serializers.IntegerField(allow_null=True),
                        "text": serializers.CharField(),
                        "score": serializers.FloatField(),
                        "similarity": serializers.FloatField(allow_null=True),
                        "coverage": serializers.FloatField(allow_null=True),
                        "support": serializers.FloatField(allow_null=True),
                        "matched_by": serializers.ListField(child=serializers.CharField()),
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
        unknown = sorted(set(request.query_params) - {*PARAMETERS, "format"})
        if unknown:
            return Response(
                {"detail": f"{unknown[0]}: unknown parameter; known: {', '.join(PARAMETERS)}."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        form = SearchForm(request.query_params)
        if not form.is_valid():
            return Response({"detail": form.error_text()}, status=status.HTTP_400_BAD_REQUEST)
        query = form.cleaned_data["q"]
        if not query:
            return Response({"detail": "The query parameter q is required."}, status=status.HTTP_400_BAD_REQUEST)
        method = form.search_method()
        hits = chunks_search(
            user=request.user, query=query, filters=form.filters(), method=method, k=form.cleaned_data.get("k")
        )
        audit_search(request, query, form, hits)
        results = [
            {
                "document_id": h.document.pk,
                "title": h.document.title,
                "path": h.document.path,
                "version": h.document.version,
                "page": h.page,
                "text": h.chunk.text,
                "score": round(h.score, 6),
                "similarity": None if h.similarity is None else round(h.similarity, 4),
                "coverage": None if h.coverage is None else round(h.coverage, 4),
                "support": None if h.support is None else round(h.support, 4),
                "matched_by": list(h.legs),
                "chunk_id": h.chunk.pk,
                "collection_id": h.document.collection_id,
                "url": page_url(h.document.pk, h.page, h.chunk.pk),
            }
            for h in hits
        ]
        return Response({"query": query, "method": method.value, "results": results})


class AskRequestSerializer(serializers.Serializer[Any]):
    question = serializers.CharField(max_length=2000)
    conversation = IdField(required=False, help_text="Ask a follow-up in this conversation.")
    collections = serializers.ListField(child=IdField(), required=False, max_length=1000)
    filters = serializers.DictField(
        required=False,
        help_text="The search filters (`document`, `type`, `folder`, `from`, `to`, `versions`), as for /search.",
    )
    stream = serializers.BooleanField(required=False, default=False)


def answer_payload(answer: Any) -> dict[str, Any]:
    return {
        "answer_id": answer.pk,
        "conversation_id": answer.conversation_id,
        "question": answer.question,
        "status": answer.status,
        "answer": answer.text,
        "supported": answer.supported,
        "backend": answer.backend,
        "model": answer.model_name,
        "prompt_version": answer.prompt_version,
        "citations": citations_with_urls(answer.citations),
        "closest": citations_with_urls(answer.closest),
        "chunks_retrieved": answer.chunks_retrieved,
        "chunks_sent": answer.chunks_sent,
        "error": answer.error,
        "created_at": answer.created_at.isoformat(),
    }


class AskApi(APIView):
    throttle_classes = [ScopedRateThrottle]  # settings.RATE_LIMIT_ASK per user
    throttle_scope = "ask"

    @extend_schema(
        request=AskRequestSerializer,
        responses={
            (200, "application/json"): R.AnswerResponse,
            (200, "text/event-stream"): {
                "type": "object",
                "description": "One server-sent event: `delta` (text so far), then `done` (the answer as "
                "JSON in `data`, as without streaming) or `error`.",
                "properties": {
                    "event": {"type": "string", "enum": ["delta", "done", "error"]},
                    "data": {"type": "string", "description": "JSON"},
                },
                "required": ["event", "data"],
            },
            (503, "application/json"): inline_serializer(
                "AskFailed", {"detail": serializers.CharField(), "answer_id": serializers.IntegerField()}
            ),
        },
        description="Asks in a new conversation, or in `conversation` as a follow-up. With `stream: true` "
        "the answer arrives as server-sent events: `delta` events with text, then one `done` event "
        "(answer, citations, closest passages) or one `error` event.",
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        serializer = AskRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conversation = None
        if "conversation" in data:
            conversation = get_object_or_404(selectors.conversations_of(request.user), pk=data["conversation"])
        form = SearchForm({**data.get("filters", {}), "collection": data.get("collections", [])})
        if not form.is_valid():
            return Response({"detail": form.error_text()}, status=status.HTTP_400_BAD_REQUEST)
        answer = answers.answer_create(
            user=request.user,
            question=data["question"],
            conversation=conversation,
            filters=None if conversation else form.filters(),
        )
        if data["stream"]:
            return sse_response(answers.answer_events(answer, request))
        failure = next((e for e in answers.answer_events(answer, request) if e["type"] == "error"), None)
        answer.refresh_from_db()
        if failure is not None:
            return Response(
                {"detail": failure["message"], "answer_id": answer.pk}, status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        return Response(answer_payload(answer))


class ConversationListApi(APIView):
    @extend_schema(responses=R.ConversationListResponse, operation_id="conversations_list")
    def get(self, request: Request) -> Response:
        conversations = selectors.conversations_of(request.user)[:200]
        return Response(
            {
                "results": [
                    {
                        "id": c.pk,
                        "title": c.title,
                        "created_at": c.created_at.isoformat(),
                        "updated_at": c.updated_at.isoformat(),
                    }
                    for c in conversations
                ]
            }
        )


class ConversationDetailApi(APIView):
    @extend_schema(responses=R.ConversationResponse)
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = get_object_or_404(selectors.conversations_of(request.user), pk=conversation_id)
        turns = [
            answer_payload(a) for a in selectors.answers_checked(request.user, conversation.answers.order_by("pk"))
        ]
        return Response({"id": conversation.pk, "title": conversation.title, "turns": turns})

    @extend_schema(responses={204: None})
    def delete(self, request: Request, conversation_id: int) -> Response:
        conversation = get_object_or_404(selectors.conversations_of(request.user), pk=conversation_id)
        conversation.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
