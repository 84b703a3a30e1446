"""The hash chain: entries link up, `verify_audit` passes an intact trail and names the first
altered, missing or removed entry, and concurrent appends keep the chain gapless."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from audit.services import audit_record

ROOT = Path(__file__).resolve().parents[2]


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def verify_fails() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=StringIO())
    assert failure.value.returncode == 1  # what `manage.py verify_audit` exits with
    return str(failure.value)


def record(n: int) -> list[AuditEvent]:
    return [
        audit_record(action="search", target_type="collection", target_id=i, details={"query": f"query {i}"})
        for i in range(1, n + 1)
    ]


def raw(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_entries_chain_and_verify_reports_the_count(db: Any) -> None:
    events = record(3)

    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert len({e.hash for e in events}) == 3
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (3, events[2].hash)
    # What was stored hashes to what was stored (values read back unchanged).
    assert all(e.compute_hash() == e.hash for e in AuditEvent.objects.all())
    assert verify().strip() == f"audit trail intact: 3 entries, last hash {events[2].hash}"


def test_an_empty_trail_is_intact(db: Any) -> None:
    assert "audit trail intact: 0 entries" in verify()


def test_a_tampered_row_is_detected(db: Any) -> None:
    record(3)
    raw("UPDATE audit_auditevent SET details = %s WHERE seq = 2", ['{"query": "something innocent"}'])

    message = verify_fails()

    assert "entry seq=2 was altered" in message


@pytest.mark.parametrize("column", ["at", "actor_name", "action", "ip", "target_id"])
def test_any_edited_column_is_detected(db: Any, column: str) -> None:
    record(3)
    original = AuditEvent.objects.get(seq=2)
    new_value: Any = {
        "at": connection.ops.adapt_datetimefield_value(original.at - datetime.timedelta(seconds=1)),
        "actor_name": "someone-else",
        "action": "auth.login",
        "ip": "192.0.2.99",
        "target_id": "999",
    }[column]
    raw(f"UPDATE audit_auditevent SET {column} = %s WHERE seq = 2", [new_value])

    assert "entry seq=2 was altered" in verify_fails()


def test_a_deleted_entry_is_reported_missing(db: Any) -> None:
    record(4)
    raw("DELETE FROM audit_auditevent WHERE seq = 2")

    assert "entry seq=2 is missing" in verify_fails()


def test_removed_last_entries_are_reported(db: Any) -> None:
    record(5)
    raw("DELETE FROM audit_auditevent WHERE seq >= 4")

    assert "the last 2 entries were removed" in verify_fails()


def test_an_edited_and_rehashed_entry_is_detected_by_its_successor(db: Any) -> None:
    record(3)
    raw("UPDATE audit_auditevent SET actor_name = %s WHERE seq = 2", ["mallory"])
    forged = AuditEvent.objects.get(seq=2)
    raw("UPDATE audit_auditevent SET hash = %s WHERE seq = 2", [forged.compute_hash()])

    message = verify_fails()

    assert "entry seq=3 does not follow entry seq=2" in message


def test_a_rehashed_last_entry_is_detected_by_the_head(db: Any) -> None:
    record(3)
    raw("UPDATE audit_auditevent SET actor_name = %s WHERE seq = 3", ["mallory"])
    forged = AuditEvent.objects.get(seq=3)
    raw("UPDATE audit_auditevent SET hash = %s WHERE seq = 3", [forged.compute_hash()])

    assert "seq=3" in verify_fails()


def test_a_renumbered_trail_after_a_deletion_is_detected(db: Any) -> None:
    record(4)
    raw("DELETE FROM audit_auditevent WHERE seq = 2")
    raw("UPDATE audit_auditevent SET seq = 2 WHERE seq = 3")
    raw("UPDATE audit_auditevent SET seq = 3 WHERE seq = 4")
    raw("UPDATE audit_auditchainhead SET seq = 3")

    assert "seq=2" in verify_fails()


def test_verify_walks_the_trail_in_small_chunks(db: Any) -> None:
    events = record(7)
    out = StringIO()

    call_command("verify_audit", "--chunk-size", "2", stdout=out)

    assert f"7 entries, last hash {events[-1].hash}" in out.getvalue()


def _database_url() -> str:
    params = connection.settings_dict
    assert params["ENGINE"].endswith("sqlite3")
    return f"sqlite:///{params['NAME']}"


def test_manage_py_verify_audit_exits_0_when_intact_and_1_when_tampered(transactional_db: Any) -> None:
    record(3)
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    command = [sys.executable, "manage.py", "verify_audit"]

    intact = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    raw("UPDATE audit_auditevent SET details = %s WHERE seq = 2", ['{"query": "edited"}'])
    tampered = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)

    assert intact.returncode == 0, intact.stderr
    assert "audit trail intact: 3 entries" in intact.stdout
    assert tampered.returncode == 1
    assert "entry seq=2 was altered" in tampered.stderr


def test_concurrent_appends_keep_the_chain_gapless(transactional_db: Any) -> None:
    threads_count, per_thread = 4, 25
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append(thread: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                audit_record(action="search", details={"thread": thread, "i": i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(t,)) for t in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    total = threads_count * per_thread
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, total + 1))
    assert AuditChainHead.objects.get(pk=1).seq == total
    assert f"audit trail intact: {total} entries" in verify()


POSTGRES_SCRIPT = """
import datetime, threading, uuid
from io import StringIO
import django
django.setup()
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from audit.services import audit_record

def append(t):
    try:
        for i in range(10):
            request = RequestFactory().get("/", REMOTE_ADDR="2001:DB8::1" if i % 2 else "10.1.2.3")
            details = {"t": t, "big": 1e20, "small": 1e-7, "minus_zero": -0.0, "one": 1.0, "name": "Müller",
                       "when": datetime.datetime.now(datetime.UTC), "id": uuid.uuid4(), "nested": {"b": [1, 2.5, None]}}
            audit_record(action="question", request=request, details=details)
    finally:
        connection.close()

threads = [threading.Thread(target=append, args=(t,)) for t in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
out = StringIO()
call_command("verify_audit", stdout=out)
print(out.getvalue().strip())
with connection.cursor() as cursor:
    cursor.execute("UPDATE audit_auditevent SET details = %s::jsonb WHERE seq = 20", ['{"t": 1}'])
try:
    call_command("verify_audit", stdout=StringIO())
except CommandError as exc:
    print(exc)
"""


def test_the_chain_holds_on_postgresql_under_concurrent_appends(postgres_url: str, tmp_path: Path) -> None:
    """jsonb and inet give values back in their own forms: the hashes must still hold."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "docanalyst.settings",
        "DATABASE_URL": postgres_url,
        "SECRET_KEY": "x",
        "VAR_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    for key in ("DOCANALYST_TEST_RUN_DIR", "TEST_SQLITE_PATH"):
        env.pop(key, None)

    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    run = subprocess.run(
        [sys.executable, "-c", POSTGRES_SCRIPT], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )

    assert run.returncode == 0, run.stderr
    intact, tampered = run.stdout.strip().splitlines()
    assert intact.startswith("audit trail intact: 40 entries")
    assert "entry seq=20 was altered" in tampered
