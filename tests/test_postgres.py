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
        "from django.db import connection; from ingest.models import Collection, Document, Chunk;"
        "from docanalyst.backends import lexical;"
        "c = Collection.objects.create(name='pg');"
        "d = Document.objects.create(collection=c, title='t', original_name='t.pdf', sha256='0'*64, file='x');"
        "Chunk.objects.create(document=d, ordinal=0, text='hello', page_number=2, element_types=['Title']);"
        "a = Chunk.objects.create(document=d, ordinal=1, text='Fit anchor bolt TC-4410-B per clause 9.2.');"
        "Chunk.objects.create(document=d, ordinal=2, text='Fit anchor bolt TC-4411-B per clause 9.3.');"
        "Chunk.objects.create(document=d, ordinal=3, text='The limitation of liability is in clause 14.');"
        "Chunk.objects.create(document=d, ordinal=4, text='Liability: a limitation applies.');"
        "e = Document.objects.create(collection=c, title='k', original_name='k.pdf', path='k.pdf', sha256='1'*64,"
        " file='y', front_matter='Kestrel Dynamics annual report');"
        "Document.objects.filter(pk=d.pk).update(front_matter='Quarterly report of Acme');"
        "both = Document.objects.filter(pk__in=[d.pk, e.pk]).values('pk').query.sql_with_params();"
        "front = lexical.search_front_matter('Kestrel Dynamics report', both);"
        "front_ok = set(front) == {d.pk, e.pk} and front[e.pk] > front[d.pk];"
        'front_ok = front_ok and lexical.search_front_matter("\'; DROP TABLE x; -- & | !", both) == {};'
        "scope = Document.objects.filter(pk=d.pk).values('pk').query.sql_with_params();"
        "none = Document.objects.filter(pk=-1).values('pk').query.sql_with_params();"
        "part = [i for i, _ in lexical.search_chunks('TC-4410-B', scope, 5)];"
        "phrase = [i for i, _ in lexical.search_chunks('\"limitation of liability\" clause', scope, 5)];"
        'hostile = lexical.search_chunks("\'; DROP TABLE ingest_chunk; -- & | ! <->", scope, 5);'
        "print(connection.vendor, Chunk.objects.get(document=d, ordinal=0).element_types[0],"
        " Document.objects.get(pk=d.pk).status, part == [a.pk], len(phrase) == 1,"
        " lexical.search_chunks('TC-4410-B', none, 5) == [], front_ok, Chunk.objects.count())"
    )
    shell = subprocess.run(
        [*manage, "shell", "-v", "0", "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert shell.returncode == 0, shell.stderr
    # The full-text index works on PostgreSQL: a part number matches only itself, a quoted phrase
    # is required, a filtered-out document is never searched, and query syntax is not injectable;
    # front matter is searched too, a rare name counting more than a common word.
    assert shell.stdout.split() == ["postgresql", "Title", "queued", "True", "True", "True", "True", "5"]
