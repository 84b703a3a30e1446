"""The lexical (BM25) index over chunk text, kept by the database itself.

SQLite: an FTS5 table over `ingest_chunk` (external content) kept in step by triggers, so a chunk
is searchable exactly when its row exists: insert, re-parse and delete need no extra code and
cannot drift from the database. PostgreSQL: a GIN index over the same text's `tsvector`.
Chroma is kept in step with the same rows by the index stage (see `ingest/pipeline/index.py`).
"""

from typing import Any

from django.db import migrations, models

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE ingest_chunk_fts USING fts5(
        text, context, content='ingest_chunk', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER ingest_chunk_fts_insert AFTER INSERT ON ingest_chunk BEGIN
        INSERT INTO ingest_chunk_fts(rowid, text, context) VALUES (new.id, new.text, new.context);
    END""",
    """CREATE TRIGGER ingest_chunk_fts_delete AFTER DELETE ON ingest_chunk BEGIN
        INSERT INTO ingest_chunk_fts(ingest_chunk_fts, rowid, text, context)
        VALUES ('delete', old.id, old.text, old.context);
    END""",
    """CREATE TRIGGER ingest_chunk_fts_update AFTER UPDATE OF text, context ON ingest_chunk BEGIN
        INSERT INTO ingest_chunk_fts(ingest_chunk_fts, rowid, text, context)
        VALUES ('delete', old.id, old.text, old.context);
        INSERT INTO ingest_chunk_fts(rowid, text, context) VALUES (new.id, new.text, new.context);
    END""",
    "INSERT INTO ingest_chunk_fts(ingest_chunk_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS ingest_chunk_fts_insert",
    "DROP TRIGGER IF EXISTS ingest_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS ingest_chunk_fts_update",
    "DROP TABLE IF EXISTS ingest_chunk_fts",
]
POSTGRES_FORWARD = [
    "CREATE INDEX ingest_chunk_text_fts ON ingest_chunk "
    "USING GIN (to_tsvector('english'::regconfig, context || ' ' || text))",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS ingest_chunk_text_fts"]


def _run(statements: dict[str, list[str]]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"No full-text index for the {vendor} database: use SQLite or PostgreSQL.")
        for statement in statements[vendor]:
            schema_editor.execute(statement)

    return run


def _fill_context(apps: Any, schema_editor: Any) -> None:
    Chunk = apps.get_model("ingest", "Chunk")
    for chunk in Chunk.objects.select_related("document").iterator(chunk_size=2000):
        chunk.context = chunk_context(chunk.document.title, chunk.section)
        chunk.save(update_fields=["context"])


def chunk_context(title: str, section: str) -> str:
    return f"{title} — {section}"[:1000] if section else title[:1000]


class Migration(migrations.Migration):
    dependencies = [("ingest", "0001_initial")]

    operations = [
        migrations.AddField(model_name="chunk", name="context", field=models.CharField(blank=True, max_length=1000)),
        migrations.RunPython(_fill_context, migrations.RunPython.noop),
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
