"""What the ingest pages (`views.py`) and the ingest API (`api.py`) share: the collection an
upload goes to, write access to a document or batch, and the audit entries of uploads and deletes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404

from audit.services import Action, audit_record
from docanalyst.roles import is_admin
from docanalyst.validation import parse_id
from ingest import selectors, services
from ingest.models import Batch, Collection, Document


def resolve_collection(user: Any, value: str | None) -> Collection:
    """Where an upload goes: a collection id or name the user may write to, a new name (admins
    create collections), or the default collection. Raises `PermissionDenied` (403) otherwise;
    a collection the user may not read answers as if it did not exist: 404 by id, and by name
    (or as the default) the same 403 as a name nobody has created."""
    if value and value.strip().isdigit():
        number = parse_id(value)
        if number is None:
            raise ValidationError(f"collection: {value.strip()[:40]!r} is not a collection id.")
        collection = get_object_or_404(selectors.collections_readable_by(user), pk=number)
    else:
        name = value.strip() if value else services.DEFAULT_COLLECTION_NAME
        readable = selectors.collections_readable_by(user).filter(name=name).first()
        if readable is None:
            if not is_admin(user):
                raise PermissionDenied("Only admins create collections; choose one you may upload into.")
            return services.collection_get_or_create(name=name, user=user) if value else services.collection_default()
        collection = readable
    if not selectors.can_write(user, collection.pk):
        raise PermissionDenied(f"You may read “{collection.name}” but not upload into it.")
    return collection


def audit_batch_created(request: Any, batch: Batch) -> None:
    document_ids = list(Document.objects.filter(batch=batch).order_by("pk").values_list("pk", flat=True)[:1000])
    audit_record(
        action=Action.BATCH_CREATE,
        request=request,
        target_type="batch",
        target_id=batch.pk,
        details={"collection_id": batch.collection_id, "name": batch.name, "document_ids": document_ids},
    )


def audit_document_deleted(request: Any, document: Document) -> None:
    audit_record(
        action=Action.DOCUMENT_DELETE,
        request=request,
        target_type="document",
        target_id=document.pk,
        details={"collection_id": document.collection_id, "path": document.path, "sha256": document.sha256},
    )


def writable_document(user: Any, document_id: int) -> Document:
    """A document the user may change: 404 when they may not see it, 403 when they may only read it."""
    document = get_object_or_404(selectors.documents_visible_to(user), pk=document_id)
    if not selectors.can_write(user, document.collection_id):
        raise PermissionDenied("You may read this document's collection but not change it.")
    return document


def writable_batch(user: Any, batch_id: int) -> Batch:
    batch = get_object_or_404(selectors.batches_visible_to(user), pk=batch_id)
    if not selectors.can_write(user, batch.collection_id):
        raise PermissionDenied("You may read this upload's collection but not change it.")
    return batch
