"""`DATABASE_URL` pointing at PostgreSQL works: migrations apply and the ingestion models write
and read. Uses the machine's PostgreSQL (CI starts it); a throwaway database per run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_migrations_and_models_work_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "docanalyst.settings",
        "DATABASE_URL": postgres_url,
        "SECRET_KEY": "x",
        "VAR_DIR": str(tmp_path),
    }
    for key in ("DOCANALYST_TEST_RUN_DIR", "TEST_SQLITE_PATH"):
        env.pop(key, None)
    manage = [sys.executable, "manage.py"]

    migrate = subprocess.run(
        [*manage, "migrate", "--noinput"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr

    script = (
        "from django.db import connection; from ingest.models import Collection, Document, Chunk, Page;"
        "from ingest.services import document_pages_rebuild; from backends import lexical;"
        "c = Collection.objects.create(name='pg');"
        "d = Document.objects.create(collection=c, title='t', original_name='t.pdf', sha256='0'*64, file='x');"
        "Chunk.objects.create(document=d, ordinal=0, text='hello', page_number=1, element_types=['Title']);"
        "Chunk.objects.create(document=d, ordinal=1, text='Fit anchor bolt TC-4410-B per clause 9.2.', page_number=2);"
        "Chunk.objects.create(document=d, ordinal=2, text='Anchor, ANCHOR: the anchor list.', page_number=2);"
        "Chunk.objects.create(document=d, ordinal=3, text='Fit anchor bolt TC-4411-B per clause 9.3.', page_number=3);"
        "Chunk.objects.create(document=d, ordinal=4, text='The limitation of liability is in 14.', page_number=4);"
        "Chunk.objects.create(document=d, ordinal=5, text='Liability: a limitation applies.', page_number=5);"
        "document_pages_rebuild(d.pk);"
        "p = {page.number: page.pk for page in Page.objects.filter(document=d)};"
        "scope = Document.objects.filter(pk=d.pk).values('pk').query.sql_with_params();"
        "none = Document.objects.filter(pk=-1).values('pk').query.sql_with_params();"
        "counts, words = lexical.page_counts(lexical.parse_query('anchor TC-4410-B'), scope);"
        "found = {t.term.tokens: t.counts for t in counts};"
        "ok = found == {('anchor',): {p[2]: 4, p[3]: 1}, ('tc', '4410', 'b'): {p[2]: 1}} and words[p[3]] == 10;"
        "phrase = lexical.pages_containing_all(lexical.parse_query('\"limitation of liability\" x').required, scope);"
        'hostile = lexical.page_counts(lexical.parse_query("\'; DROP TABLE ingest_page; -- & | ! <->"), scope);'
        "stats = lexical.scope_statistics(scope);"
        "titled = lexical.titles_containing(lexical.parse_query('T anchor'), scope);"
        "titled = titled == {('t',): {d.pk}, ('anchor',): set()};"
        "print(connection.vendor, Chunk.objects.get(document=d, ordinal=0).element_types[0],"
        " Document.objects.get(pk=d.pk).status, ok, phrase == {p[4]},"
        " lexical.page_counts(lexical.parse_query('anchor'), none)[0][0].counts == {},"
        " stats.pages == 5 and stats.pages_per_document == {d.pk: 5} and titled, Chunk.objects.count())"
    )
    shell = subprocess.run(
        [*manage, "shell", "-v", "0", "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert shell.returncode == 0, shell.stderr
    # The page index works on PostgreSQL: a term's count on each page (case folded), a part number
    # as a phrase of its tokens (TC-4411-B is not TC-4410-B), a quoted phrase found where it is, a
    # filtered-out document never counted, query syntax not injectable, the scope's statistics.
    assert shell.stdout.split() == ["postgresql", "Title", "queued", "True", "True", "True", "True", "6"]
