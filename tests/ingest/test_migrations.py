"""Data migrations fill what the code would have written, on documents ingested before them."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from docanalyst.backends import lexical


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
    scope = ("SELECT %s", (document.pk,))
    assert set(lexical.search_front_matter("Kestrel Dynamics", scope)) == {document.pk}  # and it is indexed
    assert lexical.search_front_matter("net sales", scope) == {}


def test_the_full_text_triggers_survive_every_migration(db: Any) -> None:
    """SQLite rebuilds a table for many schema changes and drops its triggers with it: a later
    migration of `Document` or `Chunk` that did so would silently stop the full-text indexes."""
    assert connection.vendor == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        triggers = {name for (name,) in cursor.fetchall()}
    expected = {
        f"ingest_{table}_fts_{event}" for table in ("chunk", "document") for event in ("insert", "delete", "update")
    }
    assert expected <= triggers
