"""Grants and revocations of collection access are permission changes: each goes into the audit
trail, naming the admin who made it (the request bound by `audit.middleware`)."""

from __future__ import annotations

from typing import Any

from audit.services import Action, audit_record, current_request
from ingest.models import CollectionAccess


def _record(access: CollectionAccess, change: str) -> None:

    audit_record(
        action=Action.PERMISSION_CHANGE,
        request=current_request(),
        target_type="collection",
        target_id=access.collection_id,
        details={
            "change": change,
            "user_id": access.user_id,
            "group_id": access.group_id,
            "group": access.group.name if access.group_id and access.group else None,
            "can_write": access.can_write,
        },
    )


def access_saved(sender: Any, instance: CollectionAccess, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        _record(instance, "granted" if created else "changed")


def access_deleted(sender: Any, instance: CollectionAccess, **kwargs: Any) -> None:
    _record(instance, "revoked")
