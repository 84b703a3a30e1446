"""The ingestion path end to end: a real Celery worker on a real Redis, real parsing, the real
embedder and a real Chroma server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from ingest import services
from ingest.models import Document
from ingest.tasks import embed_document, parse_document
from search.retrieval import chunks_search
from tests.conftest import wait_for_documents
from tests.documents import FILLER, make_docx, make_pdf, upload
from tests.factories import CollectionFactory, UserFactory, documents_uploaded
from tests.search.asking import answer_question
from tests.stack import wait_until

pytestmark = pytest.mark.worker

PLANTED = "The torque value for anchor bolt TC-4410-B is 42 newton metres."


def planted_pdf(tmp_path: Path) -> Path:
    return make_pdf(
        tmp_path / "bridge-manual.pdf",
        [
            ["Bridge Maintenance Manual", "This manual covers routine inspection of steel bridges.", FILLER[:95]],
            ["Fastener Specifications", PLANTED, "Inspect every anchor bolt annually for corrosion."],
            ["Painting", "Repaint the girders every twelve years with a zinc-rich primer."],
        ],
    )


def ingest_planted(tmp_path: Path) -> tuple[Any, Any, Document]:
    """A user, a collection and the planted PDF ingested into it, ready."""
    user = UserFactory(roles=["employee", "compliance"])
    collection = CollectionFactory(writers=[user])
    (document,) = documents_uploaded(collection=collection, uploaded_files=[upload(planted_pdf(tmp_path))], user=user)
    (document,) = wait_for_documents([document.pk])
    return user, collection, document


def test_the_worker_ingests_pdf_docx_and_text_and_search_finds_the_planted_passage(
    ingest_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    docx_path = make_docx(
        tmp_path / "contract.docx",
        [
            ("Term", ["The agreement runs for five years from signing."]),
            ("Liability", ["The liability cap is two million euros."]),
        ],
    )
    text_path = tmp_path / "site-notes.txt"
    text_path.write_text("Site notes\n\nThe tower crane was certified on 3 March by the inspector.\n", encoding="utf-8")

    created = documents_uploaded(
        collection=collection,
        uploaded_files=[upload(planted_pdf(tmp_path)), upload(docx_path), upload(text_path)],
        user=user,
    )
    documents = wait_for_documents([d.pk for d in created])

    for document in documents:
        assert document.status == Document.Status.READY, document.error
        assert document.progress == 100
        assert document.chunk_count == document.chunks.count() > 0
        assert vector_store.count(collection.pk, document.pk) == document.chunk_count
    pdf_document = documents[0]
    assert pdf_document.page_count == 3
    assert pdf_document.mime_type == "application/pdf"
    # Its pages, written with its chunks, are what lexical search ranks: one per PDF page, every chunk on one.
    assert list(pdf_document.pages.values_list("number", flat=True)) == [1, 2, 3]
    for page in pdf_document.pages.all():
        texts = list(page.chunks.order_by("ordinal").values_list("text", flat=True))
        assert texts and page.text == "\n".join(texts) and {c.page_number for c in page.chunks.all()} == {page.number}
    assert PLANTED in pdf_document.pages.get(number=2).text
    for document in documents:  # formats without pages: one unit per chunk
        assert document.chunks.filter(page__isnull=True).count() == 0

    hits = chunks_search(user=user, query="torque for anchor bolt TC-4410-B", collection_ids=[collection.pk])
    assert hits[0].document.pk == pdf_document.pk
    assert hits[0].page == 2
    assert PLANTED in hits[0].chunk.text

    liability = chunks_search(user=user, query="What is the liability cap?", collection_ids=[collection.pk])
    assert "two million euros" in liability[0].chunk.text

    answer = answer_question(user=user, question="What is the torque value for anchor bolt TC-4410-B?")
    assert answer.supported
    assert answer.backend == "extractive"
    assert "No generative model is configured" in answer.text
    assert answer.citations[0]["document_id"] == pdf_document.pk
    assert answer.citations[0]["page"] == 2
    assert "42 newton metres" in answer.citations[0]["quote"]


def test_bad_files_fail_with_a_reason_and_the_rest_of_the_upload_is_ingested(ingest_stack: Any, tmp_path: Path) -> None:
    user = UserFactory()
    collection = CollectionFactory()
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ngarbage\n%%EOF")
    unsupported = tmp_path / "firmware.bin"
    unsupported.write_bytes(bytes(range(256)) * 16)
    good = tmp_path / "good.txt"
    good.write_text("Good file\n\nThe pump station has three redundant pumps.\n", encoding="utf-8")

    created = documents_uploaded(
        collection=collection, uploaded_files=[upload(p) for p in (empty, corrupt, unsupported, good)], user=user
    )
    documents = {d.original_name: d for d in wait_for_documents([d.pk for d in created])}

    # An empty file is refused on arrival (it never becomes a document): failed in the manifest, with the reason.
    assert "empty.pdf" not in documents
    (batch,) = {d.batch for d in documents.values()}
    empty_member = batch.members.get(path="empty.pdf")
    assert (empty_member.outcome, empty_member.reason) == ("failed", "The file is empty (0 bytes).")
    assert documents["corrupt.pdf"].status == Document.Status.FAILED
    assert "corrupt or malformed" in documents["corrupt.pdf"].error
    assert documents["firmware.bin"].status == Document.Status.FAILED
    assert "Unsupported file type" in documents["firmware.bin"].error
    assert documents["good.txt"].status == Document.Status.READY
    for name in ("corrupt.pdf", "firmware.bin"):
        assert documents[name].stage.startswith("failed during"), documents[name].stage
    assert "ready." in ingest_stack.service.log()  # the worker is still the one that started
    assert ingest_stack.service.process.poll() is None


def test_running_every_stage_twice_leaves_exactly_one_set_of_chunks(
    ingest_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    _user, collection, document = ingest_planted(tmp_path)
    first_chunks = list(document.chunks.values_list("ordinal", "text"))

    # Redeliver both stages, twice each, as a broker would after a lost acknowledgement.
    Document.objects.filter(pk=document.pk).update(status=Document.Status.QUEUED)
    parse_document.delay(document.pk)
    parse_document.delay(document.pk)
    (document,) = wait_for_documents([document.pk])
    Document.objects.filter(pk=document.pk).update(status=Document.Status.EMBEDDING, stage="embed queued")
    embed_document.delay(document.pk)
    embed_document.delay(document.pk)
    (document,) = wait_for_documents([document.pk])

    assert document.status == Document.Status.READY
    assert list(document.chunks.values_list("ordinal", "text")) == first_chunks
    assert vector_store.count(collection.pk, document.pk) == len(first_chunks)
    assert vector_store.count(collection.pk) == len(first_chunks)


def abandoned_document(tmp_path: Path, name: str, text: str, attempts: int) -> Document:
    """A document whose row says `parsing` but that nothing works on, and has not for two hours:
    its message was lost or its worker died."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    document = Document.objects.create(
        collection=CollectionFactory(),
        title=path.stem,
        original_name=name,
        path=name,
        sha256=str(attempts) * 64,
        uploaded_by=UserFactory(),
        file=upload(path),
        status=Document.Status.PARSING,
        attempts=attempts,
    )
    Document.objects.filter(pk=document.pk).update(updated_at=timezone.now() - dt.timedelta(hours=2))
    return document


def test_a_document_whose_message_was_lost_is_queued_again_and_finishes(ingest_stack: Any, tmp_path: Path) -> None:
    document = abandoned_document(tmp_path, "lost.txt", "Lost message\n\nThe generator is tested every month.\n", 1)

    assert services.documents_requeue_stalled() == 1

    (document,) = wait_for_documents([document.pk])
    assert document.status == Document.Status.READY


def test_a_document_that_keeps_killing_its_worker_is_failed_not_retried_forever(
    ingest_stack: Any, tmp_path: Path, settings: Any
) -> None:
    document = abandoned_document(tmp_path, "poison.txt", "Poison\n\nText.\n", settings.INGEST_MAX_ATTEMPTS)

    services.documents_requeue_stalled()

    wait_until(
        lambda: Document.objects.get(pk=document.pk).status == Document.Status.FAILED, 60, "poison document failed"
    )
    assert "interrupted" in Document.objects.get(pk=document.pk).error


def test_deleting_a_document_removes_its_chunks_vectors_and_original(
    ingest_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    user, collection, document = ingest_planted(tmp_path)
    original = Path(document.file.path)
    assert original.exists() and vector_store.count(collection.pk, document.pk) > 0

    services.document_delete(document)

    assert not Document.objects.filter(pk=document.pk).exists()
    assert vector_store.count(collection.pk, document.pk) == 0
    assert not original.exists()
    assert chunks_search(user=user, query="torque for anchor bolt TC-4410-B", collection_ids=[collection.pk]) == []
