"""What the token API answers, as serializers for the OpenAPI schema only (the views build the payloads;
`tests/test_api_schema.py` runs schemathesis to hold the two together)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

Free = serializers.JSONField  # a value of any JSON type (the record keeps it as it was produced)


class TokenResponse(serializers.Serializer[Any]):
    token_key = serializers.CharField()
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True)


class TokenListResponse(serializers.Serializer[Any]):
    results = TokenResponse(many=True)


class TokenCreatedResponse(TokenResponse):
    token = serializers.CharField(help_text="The secret: shown this once, never again.")
