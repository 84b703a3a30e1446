"""Reads on the ingestion side. Every read of documents or chunks on behalf of a user goes
through `collections_readable_by`, the one place that decides what a user may see; every write
(upload, delete, re-index) through `collections_writable_by`."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from docanalyst.roles import is_admin
from ingest.models import Batch, BatchMember, Chunk, Collection, CollectionAccess, Document

User = AuthUser | AnonymousUser


def _granted(user: User, *, write: bool) -> QuerySet[Collection]:
    if not user.is_authenticated or not user.is_active:
        return Collection.objects.none()
    if is_admin(user):  # admins manage every collection
        return Collection.objects.all()
    grants = CollectionAccess.objects.filter(Q(user_id=user.pk) | Q(group__in=user.groups.all()))
    if write:
        grants = grants.filter(can_write=True)
    return Collection.objects.filter(pk__in=grants.values("collection_id"))


def collections_readable_by(user: User) -> QuerySet[Collection]:
    """The one place that decides what a user may see: the collections granted to the user or to
    one of their groups (admins: all). Every read of documents, chunks, answers, summaries and
    exports is scoped by it."""
    return _granted(user, write=False)


def collections_writable_by(user: User) -> QuerySet[Collection]:
    """Collections the user may upload into, re-index and delete from."""
    return _granted(user, write=True)


def can_write(user: User, collection_id: int) -> bool:
    return collections_writable_by(user).filter(pk=collection_id).exists()


def collection_ids_readable_by(user: User, requested: list[int] | None = None) -> list[int]:
    """The collections a query may touch: the requested ones the user may read, or all of them."""
    readable = collections_readable_by(user)
    if requested:
        readable = readable.filter(pk__in=requested)
    return list(readable.values_list("pk", flat=True))


def documents_visible_to(user: User) -> QuerySet[Document]:
    return Document.objects.filter(collection__in=collections_readable_by(user)).select_related("collection", "batch")


def document_versions(document: Document) -> QuerySet[Document]:
    """Every version of the document's path in its collection, newest first."""
    return Document.objects.filter(collection_id=document.collection_id, path=document.path).order_by("-version")


def chunks_of_page(document: Document, page_number: int) -> QuerySet[Chunk]:
    return document.chunks.filter(page_number=page_number).order_by("ordinal")


def batches_visible_to(user: User) -> QuerySet[Batch]:
    return Batch.objects.filter(collection__in=collections_readable_by(user)).select_related(
        "collection", "uploaded_by"
    )


@dataclass(frozen=True)
class BatchProgress:
    state: str  # unpacking | processing | done | failed | cancelled
    documents: int
    ready: int
    failed: int
    remaining: int
    duplicates: int
    skipped: int
    percent: int
    elapsed_seconds: float
    pages_per_second: float
    chunks_per_second: float
    eta_seconds: float | None


def batch_progress(batch: Batch) -> BatchProgress:
    """Live figures for a batch, computed from its documents' rows (the source of truth)."""
    counts = {row["status"]: row["n"] for row in batch.documents.values("status").annotate(n=Count("pk"))}
    totals = batch.documents.filter(status=Document.Status.READY).aggregate(
        pages=Sum("page_count"), chunks=Sum("chunk_count")
    )
    outcomes = {row["outcome"]: row["n"] for row in batch.members.values("outcome").annotate(n=Count("pk"))}
    documents = sum(counts.values())
    ready = counts.get(Document.Status.READY, 0)
    failed = counts.get(Document.Status.FAILED, 0) + counts.get(Document.Status.CANCELLED, 0)
    remaining = documents - ready - failed
    last_change = batch.documents.aggregate(last=Max("updated_at"))["last"] or batch.created_at
    finished = remaining == 0 and batch.pending_archives == 0
    end = last_change if finished else timezone.now()
    elapsed = max((end - batch.created_at).total_seconds(), 1e-3)
    done = ready + failed
    if batch.status in (Batch.Status.CANCELLED, Batch.Status.FAILED) and remaining == 0:
        state = str(batch.status)
    elif batch.pending_archives:
        state = "unpacking"
    else:
        state = "done" if finished else "processing"
    return BatchProgress(
        state=state,
        documents=documents,
        ready=ready,
        failed=failed + outcomes.get(BatchMember.Outcome.FAILED, 0),
        remaining=remaining,
        duplicates=outcomes.get(BatchMember.Outcome.DUPLICATE, 0),
        skipped=outcomes.get(BatchMember.Outcome.SKIPPED, 0),
        percent=100 if finished else int(100 * done / documents) if documents else 0,
        elapsed_seconds=round(elapsed, 1),
        pages_per_second=round((totals["pages"] or 0) / elapsed, 2),
        chunks_per_second=round((totals["chunks"] or 0) / elapsed, 2),
        eta_seconds=None if finished or not done else round(elapsed / done * remaining, 1),
    )


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    outcome: str  # ingested | processing | duplicate | failed | skipped | queued | unpacked
    reason: str
    document_id: int | None
    size_bytes: int


def batch_manifest(batch: Batch) -> list[ManifestEntry]:
    """Every member with what became of it; an ingested member's outcome follows its document."""
    entries = []
    for member in batch.members.select_related("document"):
        outcome, reason = member.outcome, member.reason
        document = member.document
        if outcome == BatchMember.Outcome.INGESTED and document is not None:
            if document.status in (Document.Status.FAILED, Document.Status.CANCELLED):
                outcome, reason = "failed", document.error
            elif document.status != Document.Status.READY:
                outcome = "processing"
        entries.append(ManifestEntry(member.path, str(outcome), reason, member.document_id, member.size_bytes))
    return entries
