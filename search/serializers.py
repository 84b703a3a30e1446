"""What the search API answers, as serializers for the OpenAPI schema only (the views build the
payloads; `tests/test_api_schema.py` runs schemathesis to hold the two together)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

Free = serializers.JSONField  # a value of any JSON type (the record keeps it as it was produced)


class CitationResponse(serializers.Serializer[Any]):
    n = serializers.IntegerField()
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    quote = serializers.CharField(allow_blank=True)
    chunk_id = serializers.IntegerField(allow_null=True, required=False)
    url = serializers.CharField(required=False)


class AnswerResponse(serializers.Serializer[Any]):
    answer_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    question = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "streaming", "done", "failed"])
    answer = serializers.CharField(allow_blank=True)
    supported = serializers.BooleanField()
    backend = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    prompt_version = serializers.CharField(allow_blank=True)
    citations = CitationResponse(many=True)
    closest = CitationResponse(many=True)
    chunks_retrieved = serializers.ListField(child=serializers.CharField(), help_text="vector ids")
    chunks_sent = serializers.ListField(child=serializers.CharField(), help_text="vector ids")
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class ConversationSummaryResponse(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ConversationListResponse(serializers.Serializer[Any]):
    results = ConversationSummaryResponse(many=True)


class ConversationResponse(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    turns = AnswerResponse(many=True)
