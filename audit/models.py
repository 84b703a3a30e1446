"""The audit trail: append-only, hash-chained entries, and the head of the chain.

Entry N stores `prev_hash` (entry N-1's hash, 64 zeros for entry 1) and
`hash = sha256(prev_hash + canonical_json(the entry's fields))`. Editing any hashed field, deleting
an entry or cutting off the tail is found by `manage.py verify_audit`. Entries are written only by
`audit.services.audit_record`; the ORM refuses to change or delete them. (Raw SQL still can: that
is what the chain detects.)
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any, NoReturn

from django.conf import settings
from django.db import models

GENESIS_HASH = "0" * 64
APPEND_ONLY = "The audit trail is append-only"


class Via(models.TextChoices):
    WEB = "web", "web"
    API_TOKEN = "api-token", "API token"
    CLI = "cli", "command line"
    WORKER = "worker", "worker"
    SYSTEM = "system", "system"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def at_iso(at: datetime.datetime) -> str:
    """The instant as hashed: ISO 8601 in UTC, always with microseconds."""
    return at.astimezone(datetime.UTC).isoformat(timespec="microseconds")


class UnicodeJSONEncoder(json.JSONEncoder):
    """Stores text as text (not \\u escapes), so that a search in `details` finds non-ASCII words."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise PermissionError(APPEND_ONLY)

    def delete(self) -> NoReturn:
        raise PermissionError(APPEND_ONLY)

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError(APPEND_ONLY)

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("Audit entries are appended one at a time by audit.services.audit_record")


AuditEventManager = models.Manager.from_queryset(AuditEventQuerySet)


class AuditEvent(models.Model):
    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    # The user's id as it was when the entry was written. The id is hashed, so deleting the user
    # must not rewrite it (SET_NULL would make every entry of a deleted user read as altered): no
    # database constraint, nothing done on delete; `actor_name` keeps the name.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    via = models.CharField(max_length=16, choices=Via.choices)
    token_key = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=UnicodeJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventManager()

    class Meta:
        verbose_name = "audit event"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name or '-'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError(APPEND_ONLY)
        if not self.hash or self.hash != self.compute_hash():
            raise PermissionError("Audit entries are appended by audit.services.audit_record only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError(APPEND_ONLY)

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": at_iso(self.at),
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "via": self.via,
            "token_key": self.token_key,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "details": self.details,
        }

    def compute_hash(self) -> str:
        payload = self.prev_hash + canonical_json(self.hashed_fields())
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def details_json(self) -> str:
        return canonical_json(self.details)


class AuditChainHead(models.Model):
    """One row (pk=1): the seq and hash of the last entry. Appends lock it, which serializes them."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = "audit chain head"

    def __str__(self) -> str:
        return f"audit head seq={self.seq}"
