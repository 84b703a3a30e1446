"""Bounds on what comes in, shared by every form, serializer, parser and URL: ids that fit the
database, JSON that cannot exhaust the parser. Bad input is a 4xx naming the field, never a 500."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# The largest primary key a 64-bit signed integer column holds (SQLite INTEGER, PostgreSQL bigint).
MAX_ID = 2**63 - 1
MAX_JSON_DEPTH = 32


def parse_id(value: object) -> int | None:
    """A positive id that fits the database, from text or an int; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            return None
        number = int(text)
    return number if 1 <= number <= MAX_ID else None


class IdConverter:
    """`<id:name>` in URL patterns: 1 to 19 digits within MAX_ID; anything else does not match (404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(f"{value!r} is not an id")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


EXPORT_FORMATS = ("pdf", "docx", "md", "csv", "xlsx")


class ExportFormatConverter:
    """`<export:fmt>`: one of the export formats (each export answers 404 to a format it lacks)."""

    regex = "|".join(EXPORT_FORMATS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class IdField(serializers.IntegerField):
    """An id in a request body: a positive integer within MAX_ID (400 naming the field otherwise)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply `value` nests (iteratively: no recursion to exhaust), stopping past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing (400) bodies nested deeper than MAX_JSON_DEPTH — a body of
    50,000 `[` made the standard parser raise RecursionError, a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.") from exc
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")
        return data


def loads_bounded(text: str | bytes) -> Any:
    """`json.loads` for bodies read outside DRF, with the same depth bound (ValueError when exceeded)."""
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.") from exc
    if json_depth(data) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")
    return data
