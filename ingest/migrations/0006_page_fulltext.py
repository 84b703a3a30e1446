"""Pages, full-text indexed: the unit lexical search ranks (issue 12).

Replaces the chunk-level full-text index (`0002`) and the front-matter index (`0005`): search now
ranks pages with BM25 computed over the user's scope, which needs each term's count on each page,
and documents with BM25 over their pages and title.

SQLite: an FTS5 table over `ingest_page` (external content; `unicode61`, diacritics removed, no
stemming — the tokens `docanalyst.backends.lexical.tokens` produces) kept in step by triggers,
and an `fts5vocab` instance table over it that lists every term's occurrences per page.
PostgreSQL: a stored `tsvector` column (`simple` configuration over the text cut at every
non-alphanumeric character, the same tokens) with a GIN index. Titles: an FTS5 table over
`ingest_document(title)` / a GIN expression index, the same tokens.

Existing documents get their pages from their stored chunks (a frozen copy of
`ingest.pipeline.chunk.pages`: migrations do not import code that may change).
"""

import re
import unicodedata
from typing import Any

import django.db.models.deletion
from django.db import migrations, models

DROP_OLD = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS ingest_chunk_fts_insert",
        "DROP TRIGGER IF EXISTS ingest_chunk_fts_delete",
        "DROP TRIGGER IF EXISTS ingest_chunk_fts_update",
        "DROP TABLE IF EXISTS ingest_chunk_fts",
        "DROP TRIGGER IF EXISTS ingest_document_fts_insert",
        "DROP TRIGGER IF EXISTS ingest_document_fts_delete",
        "DROP TRIGGER IF EXISTS ingest_document_fts_update",
        "DROP TABLE IF EXISTS ingest_document_fts",
    ],
    "postgresql": [
        "DROP INDEX IF EXISTS ingest_chunk_text_fts",
        "DROP INDEX IF EXISTS ingest_document_front_matter_fts",
    ],
}
CREATE_NEW = {
    "sqlite": [
        """CREATE VIRTUAL TABLE ingest_page_fts USING fts5(
            text, content='ingest_page', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        "CREATE VIRTUAL TABLE ingest_page_terms USING fts5vocab('ingest_page_fts', 'instance')",
        """CREATE TRIGGER ingest_page_fts_insert AFTER INSERT ON ingest_page BEGIN
            INSERT INTO ingest_page_fts(rowid, text) VALUES (new.id, new.text);
        END""",
        """CREATE TRIGGER ingest_page_fts_delete AFTER DELETE ON ingest_page BEGIN
            INSERT INTO ingest_page_fts(ingest_page_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END""",
        """CREATE TRIGGER ingest_page_fts_update AFTER UPDATE OF text ON ingest_page BEGIN
            INSERT INTO ingest_page_fts(ingest_page_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO ingest_page_fts(rowid, text) VALUES (new.id, new.text);
        END""",
        # Titles: part of a document's own evidence ("2023 Q3 AAPL", "Acme supply agreement").
        """CREATE VIRTUAL TABLE ingest_title_fts USING fts5(
            title, content='ingest_document', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER ingest_title_fts_insert AFTER INSERT ON ingest_document BEGIN
            INSERT INTO ingest_title_fts(rowid, title) VALUES (new.id, new.title);
        END""",
        """CREATE TRIGGER ingest_title_fts_delete AFTER DELETE ON ingest_document BEGIN
            INSERT INTO ingest_title_fts(ingest_title_fts, rowid, title) VALUES ('delete', old.id, old.title);
        END""",
        """CREATE TRIGGER ingest_title_fts_update AFTER UPDATE OF title ON ingest_document BEGIN
            INSERT INTO ingest_title_fts(ingest_title_fts, rowid, title) VALUES ('delete', old.id, old.title);
            INSERT INTO ingest_title_fts(rowid, title) VALUES (new.id, new.title);
        END""",
        "INSERT INTO ingest_title_fts(ingest_title_fts) VALUES ('rebuild')",
    ],
    "postgresql": [
        """ALTER TABLE ingest_page ADD COLUMN search_vector tsvector GENERATED ALWAYS AS
           (to_tsvector('simple'::regconfig, regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))) STORED""",
        "CREATE INDEX ingest_page_search_vector ON ingest_page USING GIN (search_vector)",
        "CREATE INDEX ingest_document_title_search ON ingest_document USING GIN "
        "(to_tsvector('simple'::regconfig, regexp_replace(title, '[^[:alnum:]]+', ' ', 'g')))",
    ],
}
DROP_NEW = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS ingest_title_fts_insert",
        "DROP TRIGGER IF EXISTS ingest_title_fts_delete",
        "DROP TRIGGER IF EXISTS ingest_title_fts_update",
        "DROP TABLE IF EXISTS ingest_title_fts",
        "DROP TRIGGER IF EXISTS ingest_page_fts_insert",
        "DROP TRIGGER IF EXISTS ingest_page_fts_delete",
        "DROP TRIGGER IF EXISTS ingest_page_fts_update",
        "DROP TABLE IF EXISTS ingest_page_terms",
        "DROP TABLE IF EXISTS ingest_page_fts",
    ],
    "postgresql": [
        "DROP INDEX IF EXISTS ingest_document_title_search",
        "DROP INDEX IF EXISTS ingest_page_search_vector",
        "ALTER TABLE ingest_page DROP COLUMN search_vector",
    ],
}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _run(statements: dict[str, list[str]]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"No full-text index for the {vendor} database: use SQLite or PostgreSQL.")
        for statement in statements[vendor]:
            schema_editor.execute(statement)

    return run


def _restore_old(apps: Any, schema_editor: Any) -> None:
    """Backwards: the indexes of `0002` and `0005` again (their own statements), empty front matter."""
    import importlib

    vendor = schema_editor.connection.vendor
    for name in ("0002_chunk_fulltext", "0005_document_front_matter"):
        module = importlib.import_module(f"ingest.migrations.{name}")
        forward = module.SQLITE_FORWARD if vendor == "sqlite" else module.POSTGRES_FORWARD
        for statement in forward:
            schema_editor.execute(statement)


def _words(text: str) -> int:
    folded = unicodedata.normalize("NFKD", text.lower())
    return len(_TOKEN.findall("".join(c for c in folded if not unicodedata.combining(c))))


def _fill_pages(apps: Any, schema_editor: Any) -> None:
    Chunk = apps.get_model("ingest", "Chunk")
    Page = apps.get_model("ingest", "Page")
    document_ids = Chunk.objects.order_by().values_list("document_id", flat=True).distinct()
    for document_id in list(document_ids):
        grouped: dict[Any, list[tuple[int, int, str]]] = {}
        rows = Chunk.objects.filter(document_id=document_id).order_by("ordinal")
        for pk, text, page, ordinal in rows.values_list("pk", "text", "page_number", "ordinal"):
            key = ("page", page) if page is not None else ("chunk", ordinal)
            grouped.setdefault(key, []).append((pk, ordinal, text))
        for key, members in grouped.items():
            text = "\n".join(t for _, _, t in members)
            page_row = Page.objects.create(
                document_id=document_id,
                number=key[1] if key[0] == "page" else None,
                ordinal=members[0][1],
                text=text,
                words=_words(text),
            )
            Chunk.objects.filter(pk__in=[pk for pk, _, _ in members]).update(page=page_row)


class Migration(migrations.Migration):
    dependencies = [("ingest", "0005_document_front_matter")]

    operations = [
        migrations.RunPython(_run(DROP_OLD), _restore_old),
        migrations.RemoveField(model_name="document", name="front_matter"),
        migrations.CreateModel(
            name="Page",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField(blank=True, null=True)),
                ("ordinal", models.PositiveIntegerField()),
                ("text", models.TextField()),
                ("words", models.PositiveIntegerField(default=0)),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="pages", to="ingest.document"
                    ),
                ),
            ],
            options={
                "ordering": ["document_id", "ordinal"],
                "indexes": [models.Index(fields=["document", "number"], name="page_document_number")],
                "constraints": [models.UniqueConstraint(fields=("document", "ordinal"), name="page_unique_ordinal")],
            },
        ),
        migrations.AddField(
            model_name="chunk",
            name="page",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="chunks",
                to="ingest.page",
            ),
        ),
        migrations.RunPython(_run(CREATE_NEW), _run(DROP_NEW)),
        migrations.RunPython(_fill_pages, migrations.RunPython.noop),
    ]
