"""Reads on the ingestion side. Every read of documents or chunks on behalf of a user goes
through `collections_readable_by`, the one place that decides what a user may see."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import QuerySet

from ingest.models import Chunk, Collection, Document

User = AuthUser | AnonymousUser


def collections_readable_by(user: User) -> QuerySet[Collection]:
    """Every signed-in user reads every collection until per-collection permissions arrive."""
    if not user.is_authenticated or not user.is_active:
        return Collection.objects.none()
    return Collection.objects.all()


def collection_ids_readable_by(user: User, requested: list[int] | None = None) -> list[int]:
    """The collections a query may touch: the requested ones the user may read, or all of them."""
    readable = collections_readable_by(user)
    if requested:
        readable = readable.filter(pk__in=requested)
    return list(readable.values_list("pk", flat=True))


def documents_visible_to(user: User) -> QuerySet[Document]:
    return Document.objects.filter(collection__in=collections_readable_by(user)).select_related("collection")


def document_get(user: User, document_id: int) -> Document | None:
    return documents_visible_to(user).filter(pk=document_id).first()


def chunks_of_page(document: Document, page_number: int) -> QuerySet[Chunk]:
    return document.chunks.filter(page_number=page_number).order_by("ordinal")
