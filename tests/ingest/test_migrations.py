"""Data migrations fill what the code would have written, on documents ingested before them."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from backends import lexical


def test_documents_ingested_before_front_matter_get_it_from_their_chunks(transactional_db: Any) -> None:
    before, after = [("ingest", "0004_roles")], [("ingest", "0005_document_front_matter")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Collection, Document, Chunk = (apps.get_model("ingest", name) for name in ("Collection", "Document", "Chunk"))
    collection = Collection.objects.create(name="old")
    document = Document.objects.create(
        collection=collection, title="q2.pdf", original_name="q2.pdf", path="q2.pdf", sha256="0" * 64, file="x"
    )
    for ordinal, (page, text) in enumerate([(1, "FORM 10-Q"), (1, "Kestrel Dynamics Inc."), (2, "Net sales 5,990")]):
        Chunk.objects.create(document=document, ordinal=ordinal, text=text, page_number=page, token_count=5)
    Document.objects.filter(pk=document.pk).update(chunk_count=3)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)

    row = executor.loader.project_state(after).apps.get_model("ingest", "Document").objects.get(pk=document.pk)
    assert row.front_matter == "FORM 10-Q\nKestrel Dynamics Inc."


def test_documents_ingested_before_pages_get_them_from_their_chunks_and_are_searchable(
    transactional_db: Any,
) -> None:
    before, after = [("ingest", "0005_document_front_matter")], [("ingest", "0006_page_fulltext")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Collection, Document, Chunk = (apps.get_model("ingest", name) for name in ("Collection", "Document", "Chunk"))
    collection = Collection.objects.create(name="old")
    pdf = Document.objects.create(
        collection=collection, title="q2.pdf", original_name="q2.pdf", path="q2.pdf", sha256="0" * 64, file="x"
    )
    mail = Document.objects.create(
        collection=collection, title="m.eml", original_name="m.eml", path="m.eml", sha256="1" * 64, file="y"
    )
    for ordinal, (page, text) in enumerate([(1, "FORM 10-Q"), (1, "Kestrel Dynamics Inc."), (2, "Net sales 5,990")]):
        Chunk.objects.create(document=pdf, ordinal=ordinal, text=text, page_number=page, token_count=5)
    for ordinal, text in enumerate(["Dear Kestrel team,", "regards"]):
        Chunk.objects.create(document=mail, ordinal=ordinal, text=text, token_count=3)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)

    state = executor.loader.project_state(after).apps
    Page, Chunk = state.get_model("ingest", "Page"), state.get_model("ingest", "Chunk")
    pages = list(
        Page.objects.order_by("document_id", "ordinal").values_list("document_id", "number", "ordinal", "text")
    )
    assert pages == [
        (pdf.pk, 1, 0, "FORM 10-Q\nKestrel Dynamics Inc."),
        (pdf.pk, 2, 2, "Net sales 5,990"),
        (mail.pk, None, 0, "Dear Kestrel team,"),
        (mail.pk, None, 1, "regards"),
    ]
    assert not Chunk.objects.filter(page__isnull=True).exists()
    assert all(c.page.document_id == c.document_id for c in Chunk.objects.select_related("page"))
    scope = ("SELECT id FROM ingest_document WHERE collection_id = %s", (collection.pk,))
    (kestrel,), _ = lexical.page_counts(lexical.parse_query("Kestrel"), scope)
    assert sorted(kestrel.documents) == sorted([pdf.pk, mail.pk])  # and the index has them


def test_the_full_text_triggers_survive_every_migration(db: Any) -> None:
    """SQLite rebuilds a table for many schema changes and drops its triggers with it: a later
    migration of `Page` or `Document` that did so would silently stop the full-text indexes."""
    assert connection.vendor == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        triggers = {name for (name,) in cursor.fetchall()}
    for index in ("page", "title"):
        assert {f"ingest_{index}_fts_{event}" for event in ("insert", "delete", "update")} <= triggers
    assert not {t for t in triggers if t.startswith(("ingest_chunk_fts", "ingest_document_fts"))}  # gone with 0006
