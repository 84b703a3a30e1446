"""Bad input is a 4xx naming the field, never a 500: ids beyond 64 bits on every route that takes
one, in every query and body parameter and in the browser's forms (SQLite raised OverflowError);
a JSON body nested 50,000 deep (the parser raised RecursionError)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from docanalyst.validation import MAX_ID, IdConverter, json_depth, parse_id
from tests.factories import CollectionFactory, UserFactory

HUGE = "100000000000000000000"  # 10**20
JUST_OVER = str(MAX_ID + 1)  # 19 digits, one past the largest 64-bit id
DEEP = '{"question": ' + "[" * 50_000 + "]" * 50_000 + "}"


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[str]:
    """Every route of the project as a string (`documents/<id:document_id>/page/<id:page>/`)."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def with_ids(route: str, value: str) -> str:
    route = re.sub(r"<id:[^>]+>", value, route)
    route = re.sub(r"<str:fmt>", "pdf", route)
    return "/" + re.sub(r"<[^>]+>", "x", route).lstrip("^").rstrip("$")


@pytest.fixture
def officer(db: Any) -> Any:
    return UserFactory(username="officer", is_superuser=True, is_staff=True, roles=["admin", "compliance"])


def test_id_parsing_takes_only_ids_that_fit_the_database() -> None:
    assert parse_id("42") == 42 and parse_id(42) == 42 and parse_id(str(MAX_ID)) == MAX_ID
    for bad in (JUST_OVER, HUGE, "0", "-3", "3.0", "", "٣", "1e3", True, MAX_ID + 1, -1, " 7 x"):
        assert parse_id(bad) is None, bad
    with pytest.raises(ValueError):
        IdConverter().to_python(JUST_OVER)
    assert json_depth({"a": [1, {"b": []}]}) == 4 and json_depth("flat") == 0


def test_every_route_that_takes_an_id_answers_404_to_ids_beyond_64_bits(officer: Any) -> None:
    browser = Client(raise_request_exception=False)
    browser.force_login(officer)
    id_routes = sorted({r for r in routes() if "<id:" in r})
    assert len(id_routes) > 30  # the premise: the walk found them
    for route in id_routes:
        for value in (JUST_OVER, HUGE):
            url = with_ids(route, value)
            for response in (browser.get(url), browser.post(url, {})):
                assert response.status_code == 404, (url, response.status_code)


def test_the_admin_answers_404_to_an_object_id_beyond_64_bits(officer: Any) -> None:
    browser = Client(raise_request_exception=False)
    browser.force_login(officer)
    for model in ("ingest/document", "ingest/collection", "auth/user"):
        for value in (JUST_OVER, HUGE):
            response = browser.get(f"/admin/{model}/{value}/change/")
            assert response.status_code in (302, 404), (model, value, response.status_code)  # never a 500


def test_ids_beyond_64_bits_in_query_and_body_parameters_are_a_400_naming_the_field(officer: Any) -> None:
    CollectionFactory(readers=[officer])
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(officer)
    cases = [
        (api.get("/api/v1/search", {"q": "cap", "collection": HUGE}), "collection"),
        (api.get("/api/v1/search", {"q": "cap", "document": JUST_OVER}), "document"),
        (api.post("/api/v1/summaries", {"documents": [int(HUGE)]}, format="json"), "documents"),
        (api.post("/api/v1/comparisons", {"right": -337610692820371308544, "left": -4942}, format="json"), "left"),
        (api.post("/api/v1/extractions", {"template": 1, "documents": [int(HUGE)]}, format="json"), "documents"),
        (api.post("/api/v1/ask", {"question": "cap?", "collections": [int(HUGE)]}, format="json"), "collections"),
        (api.post("/api/v1/ask", {"question": "cap?", "conversation": int(HUGE)}, format="json"), "conversation"),
        (api.post("/api/v1/documents", {"file": [], "collection": HUGE}), "file"),
    ]
    for response, field in cases:
        assert response.status_code == 400, (field, response.status_code, response.content[:200])
        assert field in response.content.decode(), (field, response.content[:200])


def test_the_browser_forms_refuse_ids_beyond_64_bits_with_a_400_naming_the_field(officer: Any) -> None:
    browser = Client(raise_request_exception=False)
    browser.force_login(officer)

    search = browser.get("/", {"q": "cap", "collection": HUGE})
    summary = browser.post("/summaries/new", {"document": HUGE, "kind": "executive"})
    comparison = browser.post("/comparisons/new", {"left": JUST_OVER, "right": "3"})
    extraction = browser.post("/extractions/new", {"template": HUGE, "document": "1"})

    for response, field in (
        (search, "collection"),
        (summary, "document"),
        (comparison, "left"),
        (extraction, "template"),
    ):
        assert response.status_code == 400, (field, response.status_code)
        assert field in response.content.decode(), field


def test_a_json_body_nested_50000_deep_is_a_400(officer: Any) -> None:
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(officer)

    for url in ("/api/v1/ask", "/api/v1/summaries", "/api/v1/comparisons", "/api/v1/extraction-templates"):
        response = api.post(url, DEEP, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
        assert "nested" in response.json()["detail"]
    shallow = api.post("/api/v1/ask", json.dumps({"question": [[["x"]]]}), content_type="application/json")
    assert shallow.status_code == 400 and "question" in shallow.json()  # parsed, then refused by the field


def test_search_refuses_an_unknown_parameter_and_a_boolean_that_is_neither(officer: Any) -> None:
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(officer)

    unknown = api.get("/api/v1/search", {"q": "cap", "colection": "3"})
    maybe = api.get("/api/v1/search", {"q": "cap", "versions": "maybe"})
    fine = api.get("/api/v1/search", {"q": "cap", "versions": "true", "format": "json"})

    assert unknown.status_code == 400 and "colection: unknown parameter" in unknown.json()["detail"]
    assert maybe.status_code == 400 and "versions" in maybe.json()["detail"]
    assert fine.status_code == 200


def test_an_empty_file_is_refused_as_empty_not_recorded_as_a_duplicate_of_another(db: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from ingest.models import BatchMember, Document

    writer = UserFactory(roles=["admin"])
    collection = CollectionFactory(writers=[writer])
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(writer)
    files = [SimpleUploadedFile("empty.txt", b""), SimpleUploadedFile("empty.pdf", b"")]

    response = api.post("/api/v1/documents", {"file": files, "collection": str(collection.pk)}, format="multipart")

    assert response.status_code == 202, response.content
    members = list(
        BatchMember.objects.filter(batch_id=response.json()["batch"]["id"]).values_list("path", "outcome", "reason")
    )
    assert sorted(members) == [
        ("empty.pdf", "failed", "The file is empty (0 bytes)."),
        ("empty.txt", "failed", "The file is empty (0 bytes)."),
    ]
    assert not Document.objects.exists()  # nothing refused is half-stored
