"""`python manage.py verify_audit`: recompute the audit trail's hash chain and report the first
entry that was altered, deleted or cut off. Exit status 0 when intact, 1 otherwise."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent


class TrailBroken(Exception):
    pass


def _head() -> tuple[int, str] | None:
    row = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    return (int(row[0]), str(row[1])) if row else None


def verify_trail(chunk_size: int = 2000) -> tuple[int, str]:
    """Walk the trail in seq order; return (entries, last hash) or raise TrailBroken.

    The head is read before the walk: every entry it covers was committed with it, so it must be
    there. Entries appended while the walk runs are checked too, against the head read after it."""
    head_before = _head()
    expected_seq, prev_hash = 1, GENESIS_HASH
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            missing = event.seq - expected_seq
            if missing < 0:
                raise TrailBroken(f"entry seq={event.seq} appears twice or out of order")
            which = (
                f"entry seq={expected_seq} is" if missing == 1 else f"entries seq={expected_seq}..{event.seq - 1} are"
            )
            raise TrailBroken(f"{which} missing (the trail jumps from seq={expected_seq - 1} to seq={event.seq})")
        if event.compute_hash() != event.hash:
            raise TrailBroken(f"entry seq={event.seq} was altered (its content does not match its hash)")
        if event.prev_hash != prev_hash:
            raise TrailBroken(
                f"entry seq={event.seq} does not follow entry seq={event.seq - 1}: an entry before it is "
                f"missing or entry seq={event.seq - 1} was altered and rehashed"
            )
        if head_before and event.seq == head_before[0] and event.hash != head_before[1]:
            raise TrailBroken(f"entry seq={event.seq} was altered and rehashed (the chain head holds another hash)")
        prev_hash = event.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    head_after = _head()
    if head_after is None:
        if last_seq:
            raise TrailBroken(f"the chain head is missing ({last_seq} entries cannot be checked for a cut-off tail)")
        return 0, GENESIS_HASH
    if head_before and head_before[0] > last_seq:
        removed = head_before[0] - last_seq
        raise TrailBroken(
            f"the last {removed} entr{'y was' if removed == 1 else 'ies were'} removed "
            f"(the chain head is at seq={head_before[0]}, the trail ends at seq={last_seq})"
        )
    if head_after[0] < last_seq:
        raise TrailBroken(
            f"entries after seq={head_after[0]} are not covered by the chain head "
            f"(added outside audit_record, or the head was altered)"
        )
    if head_after[0] == last_seq and head_after[1] != prev_hash:
        raise TrailBroken(f"the chain head does not match entry seq={last_seq} (the head or that entry was altered)")
    return last_seq, prev_hash


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain: report the first altered, missing or removed entry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk-size", type=int, default=2000, help="Entries read per database round trip.")

    def handle(self, *args: Any, chunk_size: int, **options: Any) -> None:
        try:
            count, last_hash = verify_trail(chunk_size=max(1, chunk_size))
        except TrailBroken as exc:
            raise CommandError(f"audit trail BROKEN: {exc}", returncode=1) from exc
        self.stdout.write(f"audit trail intact: {count} entries, last hash {last_hash}")
