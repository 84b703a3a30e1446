"""Compliance work end to end: generated contracts parsed by the real pipeline, compared and
extracted by the real Celery worker, summaries of a 300-page document, reviews kept with their
authors. Where the language model's part is the subject, the service runs in the test process
against a stub OpenAI-compatible server that answers from what it is sent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from backends.llm import LLMUnavailable, get_llm
from compliance import extractions, records, summaries
from compliance.models import (
    Comparison,
    ExtractionReviewEntry,
    ExtractionRun,
    ExtractionTemplate,
    RecordStatus,
    Summary,
)
from ingest.models import Document
from tests.compliance.contracts import PARTIES, contract_pages, long_specification
from tests.docanalyst.llm_stub import RecordingLLM
from tests.documents import make_pdf, upload
from tests.factories import CollectionFactory, UserFactory, documents_uploaded
from tests.search.corpus import indexed_document
from tests.stack import wait_until

pytestmark = pytest.mark.worker


def wait_for(record: Any, timeout: float = 180) -> Any:
    model = type(record)
    wait_until(
        lambda: model.objects.get(pk=record.pk).status in (RecordStatus.DONE, RecordStatus.FAILED), timeout, str(record)
    )
    record.refresh_from_db()
    assert record.status == RecordStatus.DONE, record.error
    return record


def web(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def officer(db: Any) -> Any:
    return UserFactory(roles=["employee", "compliance"])


@pytest.fixture
def contracts(ingest_stack: Any, officer: Any, tmp_path: Path) -> tuple[Document, Document]:
    """The 2024 agreement and its 2025 revision (lower cap, no non-solicitation), ingested by the worker."""
    collection = CollectionFactory(writers=[officer])
    old = make_pdf(tmp_path / "msa-2024.pdf", contract_pages())
    new = make_pdf(tmp_path / "msa-2025.pdf", contract_pages(cap="USD 2,000,000", non_solicitation=False))
    documents = documents_uploaded(collection=collection, uploaded_files=[upload(old), upload(new)], user=officer)
    ids = [d.pk for d in documents]
    wait_until(
        lambda: all(d.status == Document.Status.READY for d in Document.objects.filter(pk__in=ids)), 180, "contracts"
    )
    return Document.objects.get(pk=ids[0]), Document.objects.get(pk=ids[1])


# --- comparison -----------------------------------------------------------------------------------------


def test_comparing_two_contracts_reports_the_changed_cap_and_the_removed_clause_with_their_pages(
    contracts: tuple[Document, Document], officer: Any
) -> None:
    old, new = contracts
    response = web(officer).post(reverse("comparison-create"), {"left": old.pk, "right": new.pk})
    assert response.status_code == 302
    comparison = wait_for(Comparison.objects.latest("pk"))

    rows = comparison.rows
    cap = [r for r in rows if r["kind"] == "changed" and "5,000,000" in (r["left"] or {}).get("text", "")]
    assert len(cap) == 1, json.dumps(rows, indent=1)[:3000]
    assert "2,000,000" in cap[0]["right"]["text"] and cap[0]["material"]
    assert (cap[0]["left"]["page"], cap[0]["right"]["page"]) == (3, 3)
    removed = [r for r in rows if r["kind"] == "removed"]
    shown = "\n".join(f"{r['kind']}: {r['description']}" for r in rows)
    assert [r["left"]["page"] for r in removed if "Non-Solicitation" in r["left"]["text"]] == [4], shown
    assert all("Non-Solicitation" in r["left"]["text"] for r in removed), "renumbered clauses read as removed"
    assert not [r for r in rows if r["kind"] == "added"], "nothing was added in the revision"
    # The summary of material changes names both, and cites both pages of the cap change.
    assert "5,000,000" in comparison.text and "2,000,000" in comparison.text and "Non-Solicitation" in comparison.text
    cited = {(c["document_id"], c["page"]) for c in comparison.citations}
    assert {(old.pk, 3), (new.pk, 3), (old.pk, 4)} <= cited
    page = web(officer).get(reverse("comparison-detail", args=[comparison.pk])).content.decode()
    assert "USD 2,000,000" in page and "Non-Solicitation" in page and 'data-status="done"' in page


def test_a_document_compared_with_itself_or_a_document_not_ready_is_refused_with_a_reason(
    contracts: tuple[Document, Document], officer: Any
) -> None:
    old, new = contracts
    same = web(officer).post(reverse("comparison-create"), {"left": old.pk, "right": old.pk})
    Document.objects.filter(pk=new.pk).update(status=Document.Status.PARSING)
    waiting = APIClient()
    waiting.force_authenticate(officer)
    not_ready = waiting.post(reverse("api-comparisons"), {"left": old.pk, "right": new.pk}, format="json")

    assert same.status_code == 400 and "two different documents" in same.content.decode()
    assert not_ready.status_code == 400 and "Not ready" in not_ready.json()["detail"]
    assert not Comparison.objects.exists()


# --- extraction ------------------------------------------------------------------------------------------


def test_extraction_finds_the_planted_parties_and_dates_with_their_pages_and_never_invents_a_missing_field(
    contracts: tuple[Document, Document], officer: Any
) -> None:
    old, _ = contracts
    template = ExtractionTemplate.objects.get(name="contract")
    api = APIClient()
    api.force_authenticate(officer)

    queued = api.post(reverse("api-extractions"), {"template": template.pk, "documents": [old.pk]}, format="json")
    assert queued.status_code == 202, queued.content
    run = wait_for(ExtractionRun.objects.get(pk=queued.json()["id"]))
    values = {v.field: v for v in run.values.all()}

    assert set(values) == set(template.schema["properties"])
    assert set(PARTIES) <= set(values["parties"].value) and values["parties"].page == 1
    assert (values["effective_date"].value, values["effective_date"].page) == ("2024-03-01", 1)
    assert "England and Wales" in values["governing_law"].value and values["governing_law"].page == 4
    assert "5,000,000" in values["liability_cap"].value and values["liability_cap"].page == 3
    assert "1 March 2024" in values["effective_date"].quote  # the passage it was read from
    renewal = values["renewal"]
    assert renewal.value is None and not renewal.found and renewal.page is None and renewal.note
    detail = api.get(reverse("api-extraction", args=[run.pk])).json()
    assert {v["field"]: v["found"] for v in detail["values"]}["renewal"] is False


def test_a_reviewer_corrects_and_approves_values_and_the_review_is_kept_with_its_author(
    contracts: tuple[Document, Document], officer: Any
) -> None:
    old, _ = contracts
    template = ExtractionTemplate.objects.get(name="contract")
    run = extractions.extraction_request(user=officer, template=template, documents=[old])
    run = wait_for(run)
    renewal = run.values.get(field="renewal")
    law = run.values.get(field="governing_law")
    client = web(officer)

    corrected = client.post(
        reverse("extraction-review", args=[run.pk, renewal.pk]),
        {"action": "corrected", "value": "No automatic renewal", "comment": "checked the signed copy"},
    )
    approved = client.post(reverse("extraction-review", args=[run.pk, law.pk]), {"action": "approved"})
    refused = client.post(reverse("extraction-review", args=[run.pk, law.pk]), {"action": "deleted"})

    assert corrected.status_code == approved.status_code == 302
    assert refused.status_code == 200 and "either approves or corrects" in refused.content.decode()
    renewal.refresh_from_db()
    law.refresh_from_db()
    assert (renewal.review, renewal.reviewed_value, renewal.value) == ("corrected", "No automatic renewal", None)
    assert (law.review, law.reviewed_by) == ("approved", officer)
    history = list(ExtractionReviewEntry.objects.filter(value__run=run).values_list("action", "author", "comment"))
    assert history == [("corrected", officer.pk, "checked the signed copy"), ("approved", officer.pk, "")]
    reviews = AuditEvent.objects.filter(action="extraction.review", actor_id=officer.pk)
    assert reviews.count() == 2
    assert "renewal" in json.dumps([e.details for e in reviews])  # which field, what was done…
    assert "No automatic renewal" not in json.dumps([e.details for e in reviews])  # …never the document's values
    exported = client.get(reverse("extraction-export", args=[run.pk, "csv"])).content.decode()
    assert "No automatic renewal" in exported and officer.get_username() in exported

    # A correction without a value, or with a 100,000-character comment, is a 400 naming the field.
    api = APIClient()
    api.force_authenticate(officer)
    review_url = reverse("api-extraction-review", args=[run.pk, law.pk])
    no_value = api.post(review_url, {"action": "corrected"}, format="json")
    long_comment = api.post(review_url, {"action": "approved", "comment": "x" * 100_000}, format="json")
    assert no_value.status_code == long_comment.status_code == 400
    assert "value" in no_value.json() and "comment" in long_comment.json()
    assert ExtractionReviewEntry.objects.filter(value__run=run).count() == 2  # nothing refused is stored


def test_extraction_and_its_review_are_for_compliance_officers(contracts: tuple[Document, Document]) -> None:
    old, _ = contracts
    employee = UserFactory(roles=["employee"])
    CollectionFactory  # noqa: B018 - the employee reads the collection through a grant below
    from tests.factories import grant

    grant(old.collection, employee)
    template = ExtractionTemplate.objects.get(name="contract")

    page = web(employee).post(reverse("extraction-create"), {"template": template.pk, "document": old.pk})
    api = APIClient()
    api.force_authenticate(employee)
    listed = api.get(reverse("api-extractions"))

    assert page.status_code == 403 and listed.status_code == 403
    assert not ExtractionRun.objects.exists()


# --- summaries ---------------------------------------------------------------------------------------------


def test_a_summary_of_a_300_page_document_made_by_the_worker_covers_its_last_section(
    ingest_stack: Any, officer: Any
) -> None:
    collection = CollectionFactory(readers=[officer])
    pages, sections = long_specification()
    document = indexed_document(collection, "specs/plant-spec.pdf", pages, sections=sections)
    api = APIClient()
    api.force_authenticate(officer)

    queued = api.post(reverse("api-summaries"), {"documents": [document.pk], "kind": "engineering"}, format="json")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    summary = wait_for(Summary.objects.get(pk=queued.json()["id"]))
    shown = api.get(reverse("api-summary", args=[summary.pk])).json()

    assert shown["status"] == "done" and shown["progress"] == 100
    last = summary.sections[-1]
    assert last["heading"].startswith("Section 30") and last["pages"] == "pages 291–300"
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", last["text"])}
    cited_pages = {c["page"] for c in summary.citations if c["n"] in numbers}
    assert numbers and cited_pages <= set(range(291, 301))
    assert len(summary.sections) == 30  # every section of the document has its part
    every_line = [line for s in summary.sections for line in s["text"].splitlines()] + summary.text.splitlines()
    assert all(re.search(r"\[\d+\]$", line) for line in every_line), "a sentence without its citation"
    assert summary.sources[0]["sha256"] == document.sha256 and summary.backend == "extractive"


def summarizing_model(request: dict[str, Any]) -> str:
    """A map reply citing the part's first passage, then a sentence left uncited; a reduce reply
    keeping three of the partial sentences with their citations."""
    prompt = request["messages"][-1]["content"]
    numbers = re.findall(r'<passage n="(\d+)"', prompt)
    if "Combined overview" in prompt:
        return "\n".join(re.findall(r"^.*\[\d+\]$", prompt, re.MULTILINE)[:3])
    return f"The part sets requirements for its topic [{numbers[0]}]. It has an inspection regime."


def test_summary_progress_is_written_to_the_row_as_the_parts_are_read(db: Any, vector_store: Any) -> None:
    """With a language model: every passage of the 300 pages is sent in some map request (nothing
    is truncated), the overview is reduced from the parts, and progress rises to the end."""
    user = UserFactory()
    collection = CollectionFactory(readers=[user])
    pages, sections = long_specification()
    document = indexed_document(collection, "specs/plant-spec.pdf", pages, sections=sections)
    summary = Summary.objects.create(
        created_by=user, kind="executive", sources=records.sources_of([document]), status=RecordStatus.RUNNING
    )
    summary.documents.set([document])

    progress: list[tuple[float, str]] = []
    with RecordingLLM(summarizing_model) as server, override_llm(server.base_url):
        summaries.summary_build(summary, lambda fraction, stage: progress.append((fraction, stage)))
        requests = server.requests

    summary.refresh_from_db()
    sent = "\n".join(r["messages"][-1]["content"] for r in requests)
    assert all(page in sent for page in pages), "a passage never reached the model"
    maps = [r for r in requests if "Combined overview" not in r["messages"][-1]["content"]]
    assert len(maps) == len(summary.sections) >= 10  # short sections are read together, within the window
    assert summary.sections[-1]["heading"].endswith("Section 30: Decommissioning and final handover")
    assert summary.sections[-1]["pages"].endswith("–300")
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and len(fractions) > len(maps)
    # The second sentence of each part came back uncited: it was given its part's closest passage.
    assert all(len(re.findall(r"\[\d+\]", s["text"])) == 2 for s in summary.sections)
    assert summary.status == RecordStatus.DONE and summary.model_name == "stub"


def test_a_multi_document_summary_of_a_folder_reads_every_document(ingest_stack: Any, officer: Any) -> None:
    collection = CollectionFactory(readers=[officer])
    first = indexed_document(collection, "site/a.pdf", ["The pump station shall be inspected weekly."])
    second = indexed_document(collection, "site/b.pdf", ["The gate valve shall be greased every month."])
    indexed_document(collection, "elsewhere/c.pdf", ["The car park is resurfaced every decade."])

    response = web(officer).post(
        reverse("summary-create"), {"collection": collection.pk, "folder": "site", "kind": "legal"}
    )
    summary = wait_for(Summary.objects.latest("pk"))

    assert response.status_code == 302 and response["Location"] == reverse("summary-detail", args=[summary.pk])
    assert [s["document_id"] for s in summary.sources] == [first.pk, second.pk]
    assert {c["document_id"] for c in summary.citations} == {first.pk, second.pk}
    assert "weekly" in summary.text + json.dumps(summary.sections)
    assert "resurfaced" not in json.dumps(summary.sections)


def test_a_worker_killed_mid_summary_is_replaced_and_the_summary_ends_done(
    exclusive_stack: Any, vector_store: Any
) -> None:
    import signal

    from tests.conftest import FAST_RECOVERY, Worker

    user = UserFactory()
    collection = CollectionFactory(readers=[user])
    pages, sections = long_specification()
    document = indexed_document(collection, "specs/plant-spec.pdf", pages, sections=sections)

    with RecordingLLM(summarizing_model, delay=0.4) as server:
        env = {**FAST_RECOVERY, "COMPLIANCE_STALL_SECONDS": "4", "LLM_BASE_URL": server.base_url, "LLM_MODEL": "stub"}
        doomed = Worker("doomed", concurrency=1, extra_env=env, beat=True).start()
        summary = summaries.summary_request(user=user, documents=[document])

        def reading() -> bool:
            row = Summary.objects.get(pk=summary.pk)
            return row.status == RecordStatus.RUNNING and row.progress > 10

        wait_until(reading, 120, "summary under way")
        doomed.stop(signal.SIGKILL)  # main process, pool child and beat
        replacement = Worker("replacement", concurrency=1, extra_env=env, beat=True).start()
        try:
            summary = wait_for(summary, 240)
        finally:
            replacement.stop()

    assert summary.attempts == 2
    assert summary.sections[-1]["heading"].endswith("Section 30: Decommissioning and final handover")
    assert AuditEvent.objects.filter(action="summary.made", target_id=str(summary.pk)).count() == 1


def test_a_model_that_is_down_makes_the_summary_wait_and_retry_and_one_that_stays_down_fails_it_visibly(
    exclusive_stack: Any, vector_store: Any
) -> None:
    from tests.conftest import Worker

    user = UserFactory()
    collection = CollectionFactory(readers=[user])
    pages, sections = long_specification(sections=2, pages_per_section=3)
    document = indexed_document(collection, "specs/short-spec.pdf", pages, sections=sections)
    state = {"down": 2}

    def flaky_model(request: dict[str, Any]) -> str:
        if state["down"] > 0:
            state["down"] -= 1
            raise ConnectionAbortedError("the model server is restarting")  # the connection drops
        return summarizing_model(request)

    with RecordingLLM(flaky_model) as server:
        env = {
            "LLM_BASE_URL": server.base_url,
            "LLM_MODEL": "stub",
            "LLM_MAX_RETRIES": "0",
            "COMPLIANCE_RETRY_DELAYS": "1,1,1",
        }
        worker = Worker("flaky", concurrency=1, extra_env=env).start()
        try:
            recovered = summaries.summary_request(user=user, documents=[document])
            stages: set[str] = set()

            def finished() -> bool:
                row = Summary.objects.get(pk=recovered.pk)
                stages.add(row.stage)
                return row.is_finished

            wait_until(finished, 120, "summary after the model came back", interval=0.05)
            recovered = wait_for(recovered)
            state["down"] = 10**6
            abandoned = summaries.summary_request(user=user, documents=[document])
            wait_until(lambda: Summary.objects.get(pk=abandoned.pk).is_finished, 120, "summary given up")
        finally:
            worker.stop()

    abandoned.refresh_from_db()
    assert recovered.attempts == 1 and recovered.sections  # waiting for the model is not a lost attempt
    assert any("Trying again in 1 s" in stage for stage in stages), stages
    assert abandoned.status == RecordStatus.FAILED and "language model is unavailable" in abandoned.error


def test_the_models_summary_of_material_changes_cites_both_sides_and_keeps_the_full_list(
    db: Any, vector_store: Any
) -> None:
    from compliance import comparisons

    user = UserFactory()
    collection = CollectionFactory(readers=[user])
    old = indexed_document(collection, "c/msa-2024.pdf", ["\n\n".join(p) for p in contract_pages()])
    new = indexed_document(
        collection,
        "c/msa-2025.pdf",
        ["\n\n".join(p) for p in contract_pages(cap="USD 2,000,000", non_solicitation=False)],
    )
    comparison = Comparison.objects.create(
        created_by=user, left=old, right=new, sources=records.sources_of([old, new]), status=RecordStatus.RUNNING
    )
    reply = "The liability cap was cut from USD 5,000,000 to USD 2,000,000 [1].\nThe parties were renamed."

    with RecordingLLM(reply) as server, override_llm(server.base_url):
        comparisons.comparison_build(comparison, lambda *_: None)
        prompt = server.requests[0]["messages"][-1]["content"]

    comparison.refresh_from_db()
    first_line = comparison.text.splitlines()[0]
    assert "<documents>" in prompt and "5,000,000" in prompt and "Non-Solicitation" in prompt
    assert first_line.startswith("- The liability cap was cut") and first_line.endswith("[1][2]")
    assert "renamed" not in comparison.text  # a claim citing no change is not kept
    assert "All material changes:" in comparison.text and "Non-Solicitation" in comparison.text
    assert (comparison.backend, comparison.prompt_version) == ("openai", "comparison-v1")


def test_a_summary_whose_model_stays_down_fails_with_the_models_message(db: Any) -> None:
    from compliance.tasks import summarize

    user = UserFactory()
    summary = Summary.objects.create(created_by=user, sources=[], status=RecordStatus.RUNNING)

    summarize.on_failure(
        LLMUnavailable("The language model is unavailable: it could not be reached."), "t", (summary.pk,), {}, None
    )

    summary.refresh_from_db()
    assert summary.status == RecordStatus.FAILED and "could not be reached" in summary.error


# --- the language model's part of extraction -----------------------------------------------------------------


class override_llm:
    """Point the app's LLM client at `base_url` for the block (the client is cached per process)."""

    def __init__(self, base_url: str, structured: str = "json_schema", context: int = 8192) -> None:
        from django.test import override_settings

        self.settings = override_settings(
            LLM_BASE_URL=base_url, LLM_MODEL="stub", LLM_STRUCTURED_OUTPUT=structured, LLM_CONTEXT_TOKENS=context
        )

    def __enter__(self) -> None:
        self.settings.enable()
        get_llm.cache_clear()

    def __exit__(self, *exc: Any) -> None:
        self.settings.disable()
        get_llm.cache_clear()


def _passages(prompt: str) -> dict[int, str]:
    return {int(n): text for n, text in re.findall(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', prompt, re.DOTALL)}


def answering_model(request: dict[str, Any]) -> str:
    """Answers from the passages it is sent, as a careful model would, except that it invents a
    governing law (the check against the cited passage must throw it out)."""
    passages = _passages(request["messages"][-1]["content"])
    fields = request["response_format"]["json_schema"]["schema"]["required"]
    reply: dict[str, Any] = {name: {"value": None, "passage": None} for name in fields}
    for n, text in passages.items():
        if "made on 1 March 2024 between" in text:
            reply["parties"] = {"value": list(PARTIES), "passage": n}
            reply["effective_date"] = {"value": "2024-03-01", "passage": n}
    reply["governing_law"] = {"value": "the State of New York", "passage": min(passages)}
    return json.dumps(reply)


def _running_run(user: Any, document: Document, template: ExtractionTemplate) -> ExtractionRun:
    """A run as the worker holds it, for building in this process."""
    run = ExtractionRun.objects.create(
        created_by=user,
        template=template,
        template_name=template.name,
        schema=template.schema,
        sources=records.sources_of([document]),
        status=RecordStatus.RUNNING,
    )
    run.documents.set([document])
    return run


def _contract_run(user: Any, document: Document) -> ExtractionRun:
    return _running_run(user, document, ExtractionTemplate.objects.get(name="contract"))


def test_the_model_is_asked_for_schema_valid_output_and_a_value_not_in_its_passage_is_not_kept(
    db: Any, vector_store: Any
) -> None:
    user = UserFactory(roles=["compliance"])
    collection = CollectionFactory(readers=[user])
    document = indexed_document(collection, "contracts/msa.pdf", ["\n\n".join(p) for p in contract_pages()])
    run = _contract_run(user, document)

    with RecordingLLM(answering_model) as server, override_llm(server.base_url):
        extractions.extraction_build(run, lambda *_: None)
        request = server.requests[0]

    values = {v.field: v for v in run.values.all()}
    schema = request["response_format"]["json_schema"]["schema"]
    assert request["response_format"]["type"] == "json_schema" and set(schema["required"]) == set(values)
    assert "<documents>" in request["messages"][-1]["content"]
    assert values["parties"].value == list(PARTIES) and values["parties"].page == 1
    assert values["effective_date"].value == "2024-03-01" and values["effective_date"].page == 1
    law = values["governing_law"]
    assert law.value is None and "not in the passage" in law.note  # invented: not kept
    assert values["renewal"].value is None
    run.refresh_from_db()
    assert (run.status, run.backend, run.prompt_version) == ("done", "openai", "extraction-v1")


def test_output_that_does_not_follow_the_template_is_retried_once_and_then_nothing_is_taken_from_it(
    db: Any, vector_store: Any
) -> None:
    user = UserFactory(roles=["compliance"])
    collection = CollectionFactory(readers=[user])
    document = indexed_document(collection, "contracts/msa.pdf", ["\n\n".join(p) for p in contract_pages()])
    run = _contract_run(user, document)

    with RecordingLLM('{"parties": "Acme"') as server, override_llm(server.base_url):
        extractions.extraction_build(run, lambda *_: None)
        calls = len(server.requests)

    assert calls == 2
    assert all(v.value is None and "did not follow the template" in v.note for v in run.values.all())


@pytest.mark.llm
def test_a_real_openai_compatible_server_returns_output_that_validates_against_the_template(
    db: Any, vector_store: Any, llama_server: str
) -> None:
    """llama.cpp's server with the packaged SmolLM2 and a JSON-schema grammar: whatever the tiny
    model says, its output follows the schema, and every value kept is in its cited passage."""
    user = UserFactory(roles=["compliance"])
    collection = CollectionFactory(readers=[user])
    document = indexed_document(collection, "contracts/msa.pdf", ["\n\n".join(p) for p in contract_pages()])
    template = extractions.template_create(
        user=user,
        name="parties-only",
        description="",
        schema={
            "type": "object",
            "properties": {
                "governing_law": {"type": "string", "description": "The law that governs the agreement."},
                "term": {"type": "string", "description": "How long the agreement lasts."},
            },
        },
    )
    run = _running_run(user, document, template)

    with override_llm(llama_server, structured="json_object", context=2048):  # the server's n_ctx
        extractions.extraction_build(run, lambda *_: None)

    run.refresh_from_db()
    values = list(run.values.all())
    assert run.status == RecordStatus.DONE and len(values) == 2
    assert not [v for v in values if "did not follow the template" in v.note]
    for value in values:
        if value.found:
            assert value.page is not None and value.quote
        else:
            assert value.note


# --- templates ------------------------------------------------------------------------------------------------


def test_a_user_defined_template_is_validated_before_it_is_saved(db: Any) -> None:
    officer = UserFactory(roles=["compliance"])
    client = web(officer)
    good = {"type": "object", "properties": {"purchase_order": {"type": "string", "description": "The PO number."}}}
    nested = {"type": "object", "properties": {"buyer": {"type": "object", "properties": {}}}}

    saved = client.post(reverse("extraction-templates"), {"name": "po", "schema": json.dumps(good)})
    refused = client.post(reverse("extraction-templates"), {"name": "nested", "schema": json.dumps(nested)})
    broken = client.post(reverse("extraction-templates"), {"name": "broken", "schema": "{not json"})

    assert saved.status_code == 302 and ExtractionTemplate.objects.get(name="po").schema == good
    assert refused.status_code == 400 and "buyer" in refused.content.decode()
    assert broken.status_code == 400 and "not valid JSON" in broken.content.decode()
    assert set(ExtractionTemplate.objects.filter(builtin=True).values_list("name", flat=True)) == {
        "contract",
        "engineering",
    }
