"""What the compliance API answers, as serializers for the OpenAPI schema only (the views build
the payloads; `tests/test_api_schema.py` runs schemathesis to hold the two together)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from search.serializers import CitationResponse

Free = serializers.JSONField  # a value of any JSON type (the record keeps it as it was produced)


class RecordResponse(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    stage = serializers.CharField(allow_blank=True)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    error = serializers.CharField(allow_blank=True)
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    documents = serializers.ListField(child=serializers.DictField(), help_text="id, title, path, version, sha256, …")
    backend = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    prompt_version = serializers.CharField(allow_blank=True)


class SummaryResponse(RecordResponse):
    kind = serializers.ChoiceField(choices=["executive", "legal", "engineering"])
    title = serializers.CharField()
    summary = serializers.CharField(allow_blank=True)
    sections = serializers.ListField(child=serializers.DictField())
    citations = CitationResponse(many=True)
    exports = serializers.DictField(child=serializers.CharField())


class SummaryListResponse(serializers.Serializer[Any]):
    summaries = SummaryResponse(many=True)


class ComparisonResponse(RecordResponse):
    left = serializers.IntegerField(allow_null=True)
    right = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField(allow_blank=True)
    counts = serializers.DictField()
    rows = serializers.ListField(child=serializers.DictField())
    citations = CitationResponse(many=True)
    exports = serializers.DictField(child=serializers.CharField())


class ComparisonListResponse(serializers.Serializer[Any]):
    comparisons = ComparisonResponse(many=True)


class TemplateResponse(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    builtin = serializers.BooleanField()
    schema = serializers.DictField()


class TemplateListResponse(serializers.Serializer[Any]):
    templates = TemplateResponse(many=True)


class ReviewEntryResponse(serializers.Serializer[Any]):
    action = serializers.CharField()
    author = serializers.CharField(allow_null=True)
    previous = Free(allow_null=True)
    new = Free(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField()


class ExtractedValueResponse(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    document_id = serializers.IntegerField(allow_null=True)
    field = serializers.CharField()
    found = serializers.BooleanField()
    value = Free(allow_null=True)
    quote = serializers.CharField(allow_blank=True)
    page = serializers.IntegerField(allow_null=True)
    chunk_id = serializers.IntegerField(allow_null=True)
    note = serializers.CharField(allow_blank=True)
    review = serializers.CharField(allow_blank=True)
    reviewed_value = Free(allow_null=True)
    reviewed_by = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    history = ReviewEntryResponse(many=True)


class ExtractionResponse(RecordResponse):
    template = serializers.CharField()
    schema = serializers.DictField()
    exports = serializers.DictField(child=serializers.CharField())
    values = ExtractedValueResponse(many=True, required=False, help_text="In the record, not in the list.")


class ExtractionListResponse(serializers.Serializer[Any]):
    extractions = ExtractionResponse(many=True)
