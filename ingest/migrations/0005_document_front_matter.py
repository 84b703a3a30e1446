"""Documents' front matter (their opening text), full-text indexed with their titles.

Search uses it as a document-level prior: a filing names its company on the cover and never in
its tables. SQLite: an FTS5 table over `ingest_document` (external content) kept in step by
triggers, as for chunks (`0002`); PostgreSQL: a GIN index over the same text's `tsvector`.
Existing documents get the front matter of their stored chunks (first page, at most 512 tokens).
"""

from typing import Any

from django.db import migrations, models

FRONT_MATTER_TOKENS = 512

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE ingest_document_fts USING fts5(
        title, front_matter, content='ingest_document', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER ingest_document_fts_insert AFTER INSERT ON ingest_document BEGIN
        INSERT INTO ingest_document_fts(rowid, title, front_matter) VALUES (new.id, new.title, new.front_matter);
    END""",
    """CREATE TRIGGER ingest_document_fts_delete AFTER DELETE ON ingest_document BEGIN
        INSERT INTO ingest_document_fts(ingest_document_fts, rowid, title, front_matter)
        VALUES ('delete', old.id, old.title, old.front_matter);
    END""",
    """CREATE TRIGGER ingest_document_fts_update AFTER UPDATE OF title, front_matter ON ingest_document BEGIN
        INSERT INTO ingest_document_fts(ingest_document_fts, rowid, title, front_matter)
        VALUES ('delete', old.id, old.title, old.front_matter);
        INSERT INTO ingest_document_fts(rowid, title, front_matter) VALUES (new.id, new.title, new.front_matter);
    END""",
    "INSERT INTO ingest_document_fts(ingest_document_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS ingest_document_fts_insert",
    "DROP TRIGGER IF EXISTS ingest_document_fts_delete",
    "DROP TRIGGER IF EXISTS ingest_document_fts_update",
    "DROP TABLE IF EXISTS ingest_document_fts",
]
POSTGRES_FORWARD = [
    "CREATE INDEX ingest_document_front_matter_fts ON ingest_document "
    "USING GIN (to_tsvector('english'::regconfig, title || ' ' || front_matter))",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS ingest_document_front_matter_fts"]


def _run(statements: dict[str, list[str]]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"No full-text index for the {vendor} database: use SQLite or PostgreSQL.")
        for statement in statements[vendor]:
            schema_editor.execute(statement)

    return run


def _fill_front_matter(apps: Any, schema_editor: Any) -> None:
    """The same rule as `ingest.pipeline.chunk.front_matter`, over the stored chunks (a frozen copy:
    migrations do not import code that may change)."""
    Document = apps.get_model("ingest", "Document")
    Chunk = apps.get_model("ingest", "Chunk")
    for document_id in Document.objects.filter(chunk_count__gt=0).values_list("pk", flat=True).iterator():
        texts: list[str] = []
        used = 0
        first_page = None
        rows = Chunk.objects.filter(document_id=document_id).order_by("ordinal")
        for text, page, tokens in rows.values_list("text", "page_number", "token_count").iterator():
            if not texts:
                first_page = page
            elif page != first_page or used + tokens > FRONT_MATTER_TOKENS:
                break
            texts.append(text)
            used += tokens
        Document.objects.filter(pk=document_id).update(front_matter="\n".join(texts))


class Migration(migrations.Migration):
    dependencies = [("ingest", "0004_roles")]

    operations = [
        migrations.AddField(model_name="document", name="front_matter", field=models.TextField(blank=True, default="")),
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
        migrations.RunPython(_fill_front_matter, migrations.RunPython.noop),
    ]
