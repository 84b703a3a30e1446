"""The REST API as a script would use it: a token from `create_api_token`, then upload, poll,
search, ask, summarize and export."""

from __future__ import annotations

import io
import json
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from ingest.models import Document
from tests.factories import UserFactory
from tests.ingest.test_tasks import PLANTED, planted_pdf


def token_for(username: str) -> str:
    out = StringIO()
    call_command("create_api_token", username, stdout=out)
    return out.getvalue().strip()


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def poll_until_terminal(client: APIClient, document_id: int, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/documents/{document_id}").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.5)
    raise TimeoutError(f"document {document_id} did not finish")


def test_create_api_token_prints_only_the_token(db: Any) -> None:
    UserFactory(username="alice")

    token = token_for("alice")

    assert len(token) == 64 and token.isalnum()


@pytest.mark.django_db
def test_the_api_refuses_requests_without_a_valid_token() -> None:
    assert APIClient().get("/api/v1/search", {"q": "x"}).status_code == 401
    assert bearer_client("not-a-token").get("/api/v1/search", {"q": "x"}).status_code == 401


@pytest.mark.django_db
def test_the_openapi_schema_describes_the_endpoints() -> None:
    UserFactory(username="schema-reader")
    response = bearer_client(token_for("schema-reader")).get("/api/v1/schema", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/documents",
        "/api/v1/documents/{document_id}",
        "/api/v1/search",
        "/api/v1/ask",
        "/api/v1/summaries",
        "/api/v1/comparisons",
        "/api/v1/extractions",
        "/api/v1/extractions/{run_id}/values/{value_id}/review",
    ):
        assert path in schema["paths"], path


@pytest.mark.worker
def test_upload_poll_search_ask_summarize_and_export_through_the_api(ingest_stack: Any, tmp_path: Path) -> None:
    UserFactory(username="api-user", roles=["admin", "compliance"])
    client = bearer_client(token_for("api-user"))
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.4 nothing else")

    with planted_pdf(tmp_path).open("rb") as pdf, corrupt.open("rb") as bad:
        response = client.post(
            "/api/v1/documents", {"file": [pdf, bad], "collection": "Engineering"}, format="multipart"
        )
    assert response.status_code == 202, response.content
    created = response.json()["documents"]
    # Accepted in the order sent; a worker may already have claimed them by the time the answer is read.
    assert [d["original_name"] for d in created] == ["bridge-manual.pdf", "corrupt.pdf"]
    assert {d["status"] for d in created} <= {"queued", "parsing", "embedding", "ready", "failed"}
    assert created[0]["collection"] == "Engineering"

    ready = poll_until_terminal(client, created[0]["id"])
    failed = poll_until_terminal(client, created[1]["id"])
    assert ready["status"] == "ready" and ready["progress"] == 100
    assert ready["page_count"] == 3 and ready["chunk_count"] >= 3
    assert failed["status"] == "failed" and "corrupt" in failed["error"]

    results = client.get("/api/v1/search", {"q": "anchor bolt TC-4410-B torque"}).json()["results"]
    assert results[0]["document_id"] == created[0]["id"]
    assert results[0]["page"] == 2
    assert PLANTED in results[0]["text"]
    assert set(results[0]) >= {"document_id", "title", "page", "text", "score"}

    answer = client.post(
        "/api/v1/ask", {"question": "What is the torque value for anchor bolt TC-4410-B?"}, format="json"
    ).json()
    assert answer["citations"][0]["page"] == 2
    assert answer["citations"][0]["document_id"] == created[0]["id"]
    assert "42 newton metres" in answer["citations"][0]["quote"]
    assert "[1]" in answer["answer"]

    nothing = client.post("/api/v1/ask", {"question": "Who painted the Mona Lisa?"}, format="json").json()
    assert nothing["supported"] is False
    assert "do not contain an answer" in nothing["answer"]

    queued = client.post("/api/v1/summaries", {"documents": [created[0]["id"]]}, format="json")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    deadline = time.monotonic() + 120
    summary = queued.json()
    while summary["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        summary = client.get(f"/api/v1/summaries/{summary['id']}").json()
    assert summary["status"] == "done", summary
    assert summary["citations"] and all(c["page"] in (1, 2, 3) for c in summary["citations"])
    markdown = client.get(summary["exports"]["md"])
    assert markdown.status_code == 200
    text = markdown.content.decode()
    assert "## Provenance" in text and Document.objects.get(pk=created[0]["id"]).sha256 in text
    assert "api-user" in text
    pdf = client.get(summary["exports"]["pdf"])
    assert pdf["Content-Type"] == "application/pdf"
    from pypdf import PdfReader

    pdf_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Provenance" in pdf_text and "page 2" in pdf_text

    not_ready = client.post("/api/v1/summaries", {"documents": [created[1]["id"]]}, format="json")
    assert not_ready.status_code == 400 and "Not ready" in not_ready.json()["detail"]
