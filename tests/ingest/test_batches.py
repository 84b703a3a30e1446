"""Batches through the real worker: archives with folders, hostile archives, duplicates, versions,
e-mail attachments, cancel and retry, and the command-line ingest and reindex."""

from __future__ import annotations

import io
import tarfile
import zipfile
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from ingest import selectors, services, uploads
from ingest.models import Batch, BatchMember, Document
from search.retrieval import chunks_search
from tests.documents import make_pdf, upload
from tests.factories import CollectionFactory, UserFactory, documents_uploaded
from tests.ingest import fixtures as fx
from tests.stack import wait_until

pytestmark = pytest.mark.worker


def wait_for_batch(batch: Batch, timeout: float = 240) -> selectors.BatchProgress:
    def finished() -> bool:
        batch.refresh_from_db()
        return selectors.batch_progress(batch).state not in ("processing", "unpacking")

    wait_until(finished, timeout, f"batch {batch.pk} finishing", interval=0.5)
    return selectors.batch_progress(batch)


def manifest(batch: Batch) -> dict[str, selectors.ManifestEntry]:
    return {entry.path: entry for entry in selectors.batch_manifest(batch)}


def pdf_bytes(tmp_path: Path, name: str, lines: list[str]) -> bytes:
    return make_pdf(tmp_path / name, [lines]).read_bytes()


def zip_upload(name: str, members: dict[str, bytes], raw: list[zipfile.ZipInfo] | None = None) -> Any:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, payload in members.items():
            archive.writestr(member, payload)
    buffer.seek(0)
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def test_an_archive_becomes_documents_whose_folders_are_their_paths(ingest_stack: Any, tmp_path: Path) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w:gz") as tar:
        payload = b"Inspection notes\n\nThe north abutment shows hairline cracks.\n"
        info = tarfile.TarInfo("site/north/notes.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    archive = zip_upload(
        "project.zip",
        {
            "specs/bolts.pdf": pdf_bytes(tmp_path, "b.pdf", ["Bolts", "Grade 8.8 bolts are required for the deck."]),
            "contracts/2026/nda.txt": b"NDA\n\nThe confidentiality term is five years.\n",
            "logs/inner.tar.gz": tar_buffer.getvalue(),
        },
    )

    batch = uploads.batch_create_from_uploads(collection=collection, files=[archive], user=user)
    progress = wait_for_batch(batch)

    assert progress.state == "done" and progress.ready == 3 and progress.failed == 0
    paths = set(Document.objects.filter(batch=batch).values_list("path", flat=True))
    assert paths == {"specs/bolts.pdf", "contracts/2026/nda.txt", "logs/inner.tar.gz/site/north/notes.txt"}
    nda = Document.objects.get(batch=batch, path="contracts/2026/nda.txt")
    assert nda.folder == "contracts/2026"
    assert manifest(batch)["project.zip"].outcome == "unpacked"
    hits = chunks_search(user=user, query="hairline cracks abutment", collection_ids=[collection.pk])
    assert hits[0].document.path == "logs/inner.tar.gz/site/north/notes.txt"


def test_hostile_archive_members_are_refused_and_the_rest_is_ingested(ingest_stack: Any, tmp_path: Path) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good/readme.txt", "Readme\n\nThe pump runs at 1450 rpm.\n")
        archive.writestr("../../escape.txt", "escaped")
        archive.writestr("/etc/evil.txt", "absolute")
        secret = zipfile.ZipInfo("secret.txt")
        archive.writestr(secret, "locked")
    raw = bytearray(buffer.getvalue())
    # Mark secret.txt as encrypted in both its local and central headers (general purpose flag bit 0).
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            name_offset = 30 if signature == b"PK\x03\x04" else 46
            name_length = int.from_bytes(raw[start + (26 if signature == b"PK\x03\x04" else 28) :][:2], "little")
            if raw[start + name_offset : start + name_offset + name_length] == b"secret.txt":
                raw[start + offset] |= 0x01
            start += 4
    from django.core.files.uploadedfile import SimpleUploadedFile

    batch = uploads.batch_create_from_uploads(
        collection=collection, files=[SimpleUploadedFile("mixed.zip", bytes(raw))], user=user
    )
    progress = wait_for_batch(batch)
    entries = manifest(batch)

    assert progress.ready == 1
    assert entries["good/readme.txt"].outcome == "ingested"
    assert "traversal" in entries["escape.txt"].reason or any("traversal" in e.reason for e in entries.values())
    assert any("absolute" in e.reason for e in entries.values())
    assert entries["secret.txt"].outcome == "failed" and "encrypted" in entries["secret.txt"].reason
    stray = [p for p in Path(settings.MEDIA_ROOT).parent.rglob("*") if p.name in ("escape.txt", "evil.txt")]
    assert stray == []


def test_a_zip_bomb_ends_the_batch_with_a_clear_reason_and_fills_no_disk(ingest_stack: Any, tmp_path: Path) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.txt", "w") as member,
    ):
        for _ in range(64):
            member.write(b"\0" * (1024 * 1024))  # 64 MiB of zeros, about 64 KiB compressed
    from django.core.files.uploadedfile import SimpleUploadedFile

    batch = uploads.batch_create_from_uploads(
        collection=collection, files=[SimpleUploadedFile("bomb.zip", buffer.getvalue())], user=user
    )
    progress = wait_for_batch(batch)
    batch.refresh_from_db()

    assert progress.state == "failed"
    assert "bomb" in batch.error.lower()
    assert Document.objects.filter(batch=batch).count() == 0
    batch_dir = Path(settings.MEDIA_ROOT) / "batches" / str(batch.pk)
    written = sum(p.stat().st_size for p in batch_dir.rglob("*") if p.is_file()) if batch_dir.exists() else 0
    assert written < 2 * 1024 * 1024


def test_a_corrupt_archive_is_reported_and_other_files_of_the_upload_are_ingested(
    ingest_stack: Any, tmp_path: Path
) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    from django.core.files.uploadedfile import SimpleUploadedFile

    corrupt = SimpleUploadedFile("broken.zip", b"PK\x03\x04" + b"\x13" * 400)
    good = SimpleUploadedFile("memo.txt", b"Memo\n\nThe audit is on Friday.\n")

    batch = uploads.batch_create_from_uploads(collection=collection, files=[corrupt, good], user=user)
    wait_for_batch(batch)
    entries = manifest(batch)

    assert entries["broken.zip"].outcome == "failed"
    assert "corrupt" in entries["broken.zip"].reason.lower()
    assert entries["memo.txt"].outcome == "ingested"
    assert Document.objects.get(batch=batch, path="memo.txt").status == Document.Status.READY


def test_an_exact_duplicate_is_recorded_and_never_processed_twice(
    ingest_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    pdf = make_pdf(tmp_path / "spec.pdf", [["Spec", "Weld class B applies to all joints."]])
    (first,) = documents_uploaded(collection=collection, uploaded_files=[upload(pdf)], user=user)
    wait_until(lambda: Document.objects.get(pk=first.pk).status == Document.Status.READY, 120, "first ready")

    copy = tmp_path / "copy-of-spec.pdf"
    copy.write_bytes(pdf.read_bytes())
    batch = uploads.batch_create_from_uploads(collection=collection, files=[upload(copy)], user=user)

    entry = manifest(batch)["copy-of-spec.pdf"]
    assert entry.outcome == "duplicate" and entry.document_id == first.pk
    assert Document.objects.filter(collection=collection).count() == 1
    assert selectors.batch_progress(batch).state == "done"
    assert vector_store.count(collection.pk) == Document.objects.get(pk=first.pk).chunk_count


def test_a_new_file_under_an_existing_path_is_a_new_version_and_search_uses_the_latest(
    ingest_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    (tmp_path / "v1").mkdir()
    old = make_pdf(tmp_path / "v1" / "rates.pdf", [["Rates"], ["The hourly rate is 95 euros for inspections."]])
    (v1,) = documents_uploaded(collection=collection, uploaded_files=[upload(old)], user=user)
    wait_until(lambda: Document.objects.get(pk=v1.pk).status == Document.Status.READY, 120, "v1 ready")
    (tmp_path / "v2").mkdir()
    new = make_pdf(tmp_path / "v2" / "rates.pdf", [["Rates"], ["The hourly rate is 120 euros for inspections."]])

    (v2,) = documents_uploaded(collection=collection, uploaded_files=[upload(new)], user=user)
    wait_until(lambda: Document.objects.get(pk=v2.pk).status == Document.Status.READY, 120, "v2 ready")
    v1.refresh_from_db()
    v2.refresh_from_db()

    assert (v2.version, v2.is_latest, v2.previous_version_id) == (2, True, v1.pk)
    assert v1.is_latest is False and v1.status == Document.Status.READY  # still viewable
    hits = chunks_search(user=user, query="hourly rate for inspections", collection_ids=[collection.pk])
    assert {h.document.pk for h in hits} == {v2.pk}
    everything = chunks_search(
        user=user, query="hourly rate for inspections", collection_ids=[collection.pk], include_old_versions=True
    )
    assert {h.document.pk for h in everything} == {v1.pk, v2.pk}

    from compliance.models import Summary
    from compliance.summaries import summary_request

    old_summary = summary_request(user=user, documents=[v1])  # a superseded version stays summarizable
    wait_until(lambda: Summary.objects.get(pk=old_summary.pk).status == "done", 120, "summary of v1")
    old_summary.refresh_from_db()
    assert any(c["page"] == 2 and "95 euros" in c["quote"] for c in old_summary.citations)

    v2_id = v2.pk
    services.document_delete(v2)  # deleting the latest brings the previous version back
    v1.refresh_from_db()
    assert v1.is_latest is True
    assert (
        vector_store.count(collection.pk, v2_id) == 0 and vector_store.count(collection.pk, v2_id, versions=True) == 0
    )
    assert vector_store.count(collection.pk, v1.pk) == v1.chunk_count
    assert {h.document.pk for h in chunks_search(user=user, query="hourly rate", collection_ids=[collection.pk])} == {
        v1.pk
    }


def test_email_attachments_become_child_documents_linked_to_their_email(ingest_stack: Any, tmp_path: Path) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    annex = make_pdf(tmp_path / "annex.pdf", [["Annex"], ["Liability is capped at one million euros."]])
    mail = fx.make_eml(
        tmp_path / "signed.eml",
        "Signed contract",
        "Please find the signed annex attached.",
        [("annex.pdf", annex.read_bytes(), "application/pdf")],
    )

    (email_document,) = documents_uploaded(collection=collection, uploaded_files=[upload(mail)], user=user)
    wait_until(
        lambda: Document.objects.filter(parent=email_document, status=Document.Status.READY).exists(),
        180,
        "attachment ready",
    )
    email_document.refresh_from_db()
    child = Document.objects.get(parent=email_document)

    assert email_document.status == Document.Status.READY
    assert email_document.metadata["subject"] == "Signed contract"
    assert child.path == "signed.eml/annex.pdf" and child.batch_id == email_document.batch_id
    hits = chunks_search(user=user, query="liability cap million euros", collection_ids=[collection.pk])
    assert hits[0].document.pk == child.pk and hits[0].page == 2


def test_a_cancelled_batch_stops_and_failed_documents_can_be_retried(ingest_stack: Any, tmp_path: Path) -> None:
    user = UserFactory()
    collection = CollectionFactory(writers=[user])
    files = [upload(make_pdf(tmp_path / f"doc{i}.pdf", [[f"Document {i}", f"Clause {i} applies."]])) for i in range(6)]
    batch = uploads.batch_create_from_uploads(collection=collection, files=files, user=user)

    stopped = uploads.batch_cancel(batch)
    progress = wait_for_batch(batch)

    assert progress.state == "cancelled"
    assert stopped >= 1
    statuses = set(Document.objects.filter(batch=batch).values_list("status", flat=True))
    assert statuses <= {Document.Status.CANCELLED, Document.Status.READY}
    cancelled = Document.objects.filter(batch=batch, status=Document.Status.CANCELLED).count()
    assert selectors.batch_progress(batch).failed == cancelled

    assert uploads.batch_retry_failed(batch) == cancelled
    progress = wait_for_batch(batch)
    assert progress.state == "done" and progress.ready == 6


def test_the_ingest_command_ingests_a_folder_through_the_workers(ingest_stack: Any, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    (folder / "drawings").mkdir(parents=True)
    make_pdf(folder / "drawings" / "d-101.pdf", [["Drawing D-101", "Bearing plate thickness 40 mm."]])
    (folder / "notes.txt").write_text("Notes\n\nConcrete class C35/45.\n")
    (folder / "tool.go").write_text("package main\n")
    out = StringIO()

    call_command("ingest", str(folder), "--collection", "CLI", "--timeout", "180", stdout=out)

    text = out.getvalue()
    assert "done: 2 ready, 1 failed" in text
    assert "tool.go: Rejected: source code" in text
    assert set(Document.objects.filter(collection__name="CLI").values_list("path", flat=True)) == {
        "drawings/d-101.pdf",
        "notes.txt",
        "tool.go",
    }


def test_reindex_rebuilds_the_vectors_of_every_ready_document(
    ingest_stack: Any, vector_store: Any, tmp_path: Path
) -> None:
    user = UserFactory()
    collection = CollectionFactory(name="Reindexed", writers=[user])
    files = [upload(make_pdf(tmp_path / f"r{i}.pdf", [[f"Report {i}", f"Finding {i} is minor."]])) for i in range(3)]
    created = documents_uploaded(collection=collection, uploaded_files=files, user=user)
    wait_until(
        lambda: Document.objects.filter(pk__in=[d.pk for d in created], status="ready").count() == 3, 120, "ready"
    )
    expected = sum(Document.objects.filter(collection=collection).values_list("chunk_count", flat=True))
    vector_store.drop_collection(collection.pk)  # the store was lost
    assert vector_store.count(collection.pk) == 0
    out = StringIO()

    call_command("reindex", "--collection", "Reindexed", stdout=out)

    assert "Done: 3 re-indexed, 0 failed." in out.getvalue()
    assert vector_store.count(collection.pk) == expected
    assert BatchMember.objects.filter(batch__collection=collection).count() == 3
