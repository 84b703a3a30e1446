"""Every export of every kind of record, downloaded as a compliance officer: it opens with its
library (pypdf, python-docx, openpyxl, csv), carries the provenance section and quotes its cited
passages, is recorded in the audit trail with the hash of the bytes handed out, and is made from
the stored record (the same record exports the same content later)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from compliance import comparisons, extractions, summaries
from compliance.models import Comparison, ExtractionRun, ExtractionTemplate, RecordStatus, Summary
from compliance.records import sources_of
from search.models import Conversation
from tests.compliance.contracts import contract_pages
from tests.factories import CollectionFactory, UserFactory
from tests.search.asking import answer_question
from tests.search.corpus import indexed_document


@dataclass
class Records:
    officer: Any
    summary: Summary
    comparison: Comparison
    extraction: ExtractionRun
    answer: Any
    conversation: Any


def _running(record: Any) -> Any:
    type(record).objects.filter(pk=record.pk).update(status=RecordStatus.RUNNING)
    record.refresh_from_db()
    return record


@pytest.fixture
def records(db: Any, vector_store: Any, settings: Any) -> Records:
    """One record of each kind, made by the services in this process (the worker path is tested
    in test_compliance); no language model, so everything is extractive."""
    settings.LLM_BASE_URL = ""
    officer = UserFactory(username="cora", roles=["employee", "compliance"])
    collection = CollectionFactory(readers=[officer])
    old = indexed_document(collection, "contracts/msa-2024.pdf", ["\n\n".join(p) for p in contract_pages()])
    new = indexed_document(
        collection,
        "contracts/msa-2025.pdf",
        ["\n\n".join(p) for p in contract_pages(cap="USD 2,000,000", non_solicitation=False)],
    )
    summary = Summary.objects.create(created_by=officer, title="Legal: msa-2024.pdf", kind="legal")
    summary.documents.set([old])
    Summary.objects.filter(pk=summary.pk).update(sources=sources_of([old]))
    summary.refresh_from_db()
    summaries.summary_build(_running(summary), lambda *_: None)
    comparison = Comparison.objects.create(created_by=officer, left=old, right=new, sources=sources_of([old, new]))
    comparisons.comparison_build(_running(comparison), lambda *_: None)
    template = ExtractionTemplate.objects.get(name="contract")
    run = ExtractionRun.objects.create(
        created_by=officer,
        template=template,
        template_name=template.name,
        schema=template.schema,
        sources=sources_of([old]),
    )
    run.documents.set([old])
    extractions.extraction_build(_running(run), lambda *_: None)
    answer = answer_question(user=officer, question="What is the aggregate liability cap in the 2024 agreement?")
    return Records(officer, summary, comparison, run, answer, answer.conversation)


ROUTES = {
    "summary": ("summary-export", ("pdf", "docx", "md")),
    "comparison": ("comparison-export", ("pdf", "docx", "md", "csv", "xlsx")),
    "extraction": ("extraction-export", ("pdf", "docx", "md", "csv", "xlsx")),
    "answer": ("answer-export", ("pdf", "docx", "md")),
    "conversation": ("conversation-export", ("pdf", "docx", "md")),
}


def text_of(body: bytes, fmt: str) -> str:
    """The export opened with its own library, as text."""
    if fmt == "pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)
    if fmt == "docx":
        import docx

        document = docx.Document(io.BytesIO(body))
        cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
        return "\n".join([p.text for p in document.paragraphs] + cells)
    if fmt == "xlsx":
        import openpyxl

        workbook = openpyxl.load_workbook(io.BytesIO(body))
        return (
            "\n".join(
                " | ".join(str(c) for c in row if c is not None)
                for sheet in workbook.worksheets
                for row in sheet.iter_rows(values_only=True)
            )
            + "\n"
            + " ".join(workbook.sheetnames)
        )
    if fmt == "csv":
        return "\n".join(" | ".join(row) for row in csv.reader(io.StringIO(body.decode("utf-8"))))
    return body.decode("utf-8")


def _record(records: Records, kind: str) -> Any:
    return getattr(records, kind)


def _quotes(record: Any) -> list[str]:
    if isinstance(record, ExtractionRun):
        return [v.quote for v in record.values.exclude(quote="")]
    if isinstance(record, Conversation):
        return [c["quote"] for answer in record.answers.all() for c in answer.citations]
    return [c["quote"] for c in record.citations]


@pytest.mark.parametrize("kind", list(ROUTES))
def test_every_export_opens_with_its_library_and_carries_provenance_and_its_quotes(records: Records, kind: str) -> None:
    route, formats = ROUTES[kind]
    record = _record(records, kind)
    client = Client()
    client.force_login(records.officer)
    quotes = _quotes(record)
    assert quotes, "a record without citations proves nothing here"

    for fmt in formats:
        response = client.get(reverse(route, args=[record.pk, fmt]))

        assert response.status_code == 200, (fmt, response.content[:300])
        body = response.content
        text = " ".join(text_of(body, fmt).split())
        for heading in ("Provenance", "Sources", "Documents"):
            assert heading in text, (fmt, heading)
        assert "cora" in text and "msa-2024.pdf" in text, fmt
        if kind not in ("conversation", "answer"):
            assert "Prompt version" in text and "Backend" in text, fmt
        for quote in quotes[:5]:
            first_words = " ".join(quote.split()[:6])
            assert first_words in text, f"{first_words!r} missing from the {fmt} export"
        event = AuditEvent.objects.filter(action="export", target_type=kind, target_id=str(record.pk)).latest("pk")
        assert event.details["format"] == fmt and event.details["sha256"] == hashlib.sha256(body).hexdigest()


def test_the_same_record_exports_the_same_content_later(records: Records) -> None:
    client = Client()
    client.force_login(records.officer)
    url = reverse("comparison-export", args=[records.comparison.pk, "md"])

    first = client.get(url).content.decode()
    again = client.get(url).content.decode()

    def stable(text: str) -> str:
        return re.sub(r".*Exported at.*\n", "", text)

    assert stable(first) == stable(again) and "USD 2,000,000" in first


@pytest.mark.parametrize("kind", ["summary", "answer", "conversation"])
def test_text_records_have_no_table_to_export_as_csv_or_xlsx(records: Records, kind: str) -> None:
    client = Client()
    client.force_login(records.officer)
    route, _ = ROUTES[kind]

    for fmt in ("csv", "xlsx"):
        response = client.get(reverse(route, args=[_record(records, kind).pk, fmt]))
        assert response.status_code == 404


def test_an_employee_without_the_compliance_role_may_not_export_even_their_own_answer(records: Records) -> None:
    employee = UserFactory(roles=["employee"])
    client = Client()
    client.force_login(employee)
    answer = answer_question(user=employee, question="What is the term of the agreement?")

    response = client.get(reverse("answer-export", args=[answer.pk, "pdf"]))

    assert response.status_code == 403
