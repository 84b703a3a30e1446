"""Uploads become batches: files are stored once (content-addressed), archives are unpacked by a
worker, and every member is recorded in the batch's manifest as ingested, duplicate, failed or
skipped.

Duplicates (same sha256 in the collection) are recorded and never parsed or embedded again. A
file arriving under a path that already exists in the collection with other content becomes a
new version of that document.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import magic
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.utils.text import get_valid_filename

from docanalyst import dispatch
from ingest.archives import ArchiveError, ArchiveLimits, archive_kind, extract_archive
from ingest.models import Batch, BatchMember, Collection, Document
from ingest.services import document_enqueue, document_retry

logger = logging.getLogger(__name__)

Outcome = BatchMember.Outcome
LIVE_STATUSES = (*Document.ACTIVE_STATUSES, Document.Status.READY)


@dataclass(frozen=True)
class StoredFile:
    name: str  # storage name under MEDIA_ROOT
    sha256: str
    size: int
    mime_type: str


def _store(source: IO[bytes], original_name: str) -> StoredFile:
    """Hash while copying into content-addressed storage (`originals/<sha>/<name>`)."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    source.seek(0)
    while block := source.read(1024 * 1024):
        if not head:
            head = block[:8192]
        digest.update(block)
        size += len(block)
    source.seek(0)
    sha256 = digest.hexdigest()
    safe_name = get_valid_filename(Path(original_name).name) or "upload"
    name = f"originals/{sha256[:2]}/{sha256}/{safe_name}"
    if not default_storage.exists(name):
        name = default_storage.save(name, File(source))
    mime_type = magic.from_buffer(head, mime=True) if head else "inode/x-empty"
    return StoredFile(name=name, sha256=sha256, size=size, mime_type=mime_type)


def _clean_path(path: str) -> str:
    parts = [p for p in PurePosixPath(path.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
    return "/".join(parts)[:1000] or "upload"


def _title_from_name(name: str) -> str:
    stem = Path(name).stem.replace("_", " ").strip()
    return stem or name or "Untitled"


def document_register(
    *,
    batch: Batch,
    source: IO[bytes],
    path: str,
    user: User | AnonymousUser | None,
    parent: Document | None = None,
) -> BatchMember:
    """Store one file and record it: a new document (queued), a new version, or a duplicate."""
    path = _clean_path(path)
    name = PurePosixPath(path).name
    size = source_size(source)
    if size > settings.UPLOAD_MAX_BYTES:
        return BatchMember.objects.create(
            batch=batch,
            path=path,
            outcome=Outcome.FAILED,
            size_bytes=size,
            reason=f"The file is larger than the {settings.UPLOAD_MAX_BYTES}-byte upload limit.",
        )
    if size == 0:  # before the duplicate check: every empty file has the same hash
        return BatchMember.objects.create(
            batch=batch, path=path, outcome=Outcome.FAILED, size_bytes=0, reason="The file is empty (0 bytes)."
        )
    stored = _store(source, name)
    collection = batch.collection
    with transaction.atomic():
        existing = (
            Document.objects.select_for_update()
            .filter(collection=collection, sha256=stored.sha256, status__in=LIVE_STATUSES)
            .order_by("pk")
            .first()
        )
        if existing is not None:
            return BatchMember.objects.create(
                batch=batch,
                path=path,
                outcome=Outcome.DUPLICATE,
                document=existing,
                size_bytes=stored.size,
                reason=f"Same content as “{existing.path}” (document {existing.pk}); not processed again.",
            )
        previous = (
            Document.objects.filter(collection=collection, path=path, status__in=LIVE_STATUSES)
            .order_by("-version")
            .first()
        )
        if previous is None:  # only failed attempts at this path: the new file takes their place
            Document.objects.filter(collection=collection, path=path, is_latest=True).update(is_latest=False)
        document = Document.objects.create(
            collection=collection,
            batch=batch,
            parent=parent,
            title=_title_from_name(name),
            original_name=name,
            path=path,
            file=stored.name,
            sha256=stored.sha256,
            mime_type=stored.mime_type,
            size_bytes=stored.size,
            version=previous.version + 1 if previous else 1,
            previous_version=previous,
            # A new version becomes the latest only once it is ready (see document_mark_ready).
            is_latest=previous is None,
            uploaded_by=user if isinstance(user, User) else None,
        )
        member = BatchMember.objects.create(
            batch=batch,
            path=path,
            outcome=Outcome.INGESTED,
            document=document,
            size_bytes=stored.size,
            reason=f"version {document.version}" if previous else "",
        )
        document_enqueue(document.pk)
    logger.info("document %s registered: %s (%s bytes, version %s)", document.pk, path, stored.size, document.version)
    return member


def source_size(source: IO[bytes]) -> int:
    size = getattr(source, "size", None)
    if isinstance(size, int):
        return size
    position = source.tell()
    source.seek(0, 2)
    end = source.tell()
    source.seek(position)
    return end


# --- batches -------------------------------------------------------------------------------------


def _batch_dir(batch: Batch) -> Path:
    return Path(settings.MEDIA_ROOT) / "batches" / str(batch.pk)


_ARCHIVE_HEADS = (b"PK", b"7z\xbc\xaf", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")


def _may_be_archive(source: IO[bytes]) -> bool:
    """A cheap first look; `archive_kind` decides on the spooled file (a .docx is a zip too)."""
    source.seek(257)
    tar_magic = source.read(5) == b"ustar"
    source.seek(0)
    head = source.read(6)
    source.seek(0)
    return head.startswith(_ARCHIVE_HEADS) or tar_magic


def batch_create(
    *,
    collection: Collection,
    uploads: Iterable[tuple[str, IO[bytes]]],
    user: User | AnonymousUser | None,
    name: str = "",
) -> Batch:
    """A batch from (path, file) pairs: plain files are registered at once, archives are queued
    for a worker to unpack."""
    items = list(uploads)
    if not items:
        raise ValidationError("Choose at least one file to upload.")
    batch = Batch.objects.create(
        collection=collection,
        name=name or (items[0][0] if len(items) == 1 else f"{len(items)} files"),
        uploaded_by=user if isinstance(user, User) else None,
    )
    archives_dir = _batch_dir(batch) / "archives"
    for index, (path, source) in enumerate(items):
        if _may_be_archive(source):
            spooled = archives_dir / f"{index:05d}-{get_valid_filename(Path(path).name) or 'archive'}"
            spooled.parent.mkdir(parents=True, exist_ok=True)
            with spooled.open("wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
            if archive_kind(spooled) is not None:
                member = BatchMember.objects.create(
                    batch=batch,
                    path=_clean_path(path),
                    outcome=Outcome.QUEUED,
                    size_bytes=spooled.stat().st_size,
                    archive_file=str(spooled),
                )
                Batch.objects.filter(pk=batch.pk).update(pending_archives=F("pending_archives") + 1)
                dispatch.unpack_archive(member.pk)  # broker down: the sweep queues it later
                continue
            spooled.unlink()  # an Office file or other zip-based document: a plain document
            source.seek(0)
        document_register(batch=batch, source=source, path=path, user=user)
    return batch


def batch_create_from_uploads(
    *, collection: Collection, files: list[UploadedFile], user: User | AnonymousUser | None
) -> Batch:
    """A batch from the files of one upload (browser or API). A lone file over UPLOAD_MAX_BYTES is
    refused outright (ValidationError); in a larger upload it is recorded as failed, as are oversized
    archive members. An archive itself may be larger: its members are what the limit applies to."""
    size = (files[0].size or 0) if len(files) == 1 else 0
    if size > settings.UPLOAD_MAX_BYTES and not _may_be_archive(files[0]):
        raise ValidationError(
            f"“{files[0].name}” ({filesizeformat(size)}) is larger than the upload limit of "
            f"{filesizeformat(settings.UPLOAD_MAX_BYTES)}."
        )
    with transaction.atomic():
        return batch_create(collection=collection, uploads=((f.name or "upload", f) for f in files), user=user)


def iter_folder(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path.relative_to(root).as_posix(), path


def batch_create_from_path(*, collection: Collection, path: Path, user: User | AnonymousUser | None) -> Batch:
    """`manage.py ingest PATH`: a folder (walked) or a single file or archive."""
    files = list(iter_folder(path)) if path.is_dir() else [(path.name, path)]
    handles = [(relative, source.open("rb")) for relative, source in files]
    try:
        with transaction.atomic():
            return batch_create(collection=collection, uploads=handles, user=user, name=str(path))
    finally:
        for _, handle in handles:
            handle.close()


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_total_bytes=settings.ARCHIVE_MAX_TOTAL_BYTES,
        max_members=settings.ARCHIVE_MAX_MEMBERS,
        max_member_bytes=settings.UPLOAD_MAX_BYTES,
        max_ratio=settings.ARCHIVE_MAX_RATIO,
        max_depth=settings.ARCHIVE_MAX_DEPTH,
    )


def archive_unpack(member_id: int) -> None:
    """Expand an uploaded archive and register its members (run by a worker; safe to re-run:
    already registered paths are not registered twice)."""
    member = BatchMember.objects.select_related("batch", "batch__collection", "batch__uploaded_by").get(pk=member_id)
    batch = member.batch
    if member.outcome != Outcome.QUEUED or batch.status == Batch.Status.CANCELLED:
        return
    archive_path = Path(member.archive_file)
    folder = PurePosixPath(member.path).parent.as_posix()
    prefix = "" if folder in ("", ".") else f"{folder}/"
    dest = archive_path.parent / f"{archive_path.name}.d"
    shutil.rmtree(dest, ignore_errors=True)
    fatal = ""
    try:
        outcomes = extract_archive(archive_path, dest, archive_limits())
    except ArchiveError as exc:
        outcomes, fatal = exc.outcomes, exc.message
    done = set(BatchMember.objects.filter(batch=batch).values_list("path", flat=True))
    try:
        for outcome in outcomes:
            path = _clean_path(prefix + outcome.path)
            if path in done:
                continue
            if outcome.status == "extracted" and outcome.file is not None and not fatal:
                with outcome.file.open("rb") as handle:
                    document_register(batch=batch, source=handle, path=path, user=batch.uploaded_by)
            else:
                status = Outcome.SKIPPED if outcome.status == "skipped" else Outcome.FAILED
                reason = outcome.reason or f"Not ingested: {fatal}"
                BatchMember.objects.create(
                    batch=batch, path=path, outcome=status, reason=reason, size_bytes=outcome.size
                )
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    with transaction.atomic():
        if fatal:
            archive_mark_failed(member.pk, fatal)
        elif BatchMember.objects.filter(pk=member.pk, outcome=Outcome.QUEUED).update(outcome=Outcome.UNPACKED):
            Batch.objects.filter(pk=batch.pk, pending_archives__gt=0).update(pending_archives=F("pending_archives") - 1)
    archive_path.unlink(missing_ok=True)
    logger.info(
        "archive %s of batch %s unpacked: %d members%s",
        member.path,
        batch.pk,
        len(outcomes),
        f", stopped: {fatal}" if fatal else "",
    )


def archive_mark_failed(member_id: int, reason: str) -> None:
    """The archive could not be unpacked (or had to be stopped): the batch ends with the reason."""
    member = BatchMember.objects.select_related("batch").get(pk=member_id)
    with transaction.atomic():
        if BatchMember.objects.filter(pk=member_id, outcome=Outcome.QUEUED).update(
            outcome=Outcome.FAILED, reason=reason
        ):
            Batch.objects.filter(pk=member.batch_id, pending_archives__gt=0).update(
                pending_archives=F("pending_archives") - 1
            )
        Batch.objects.filter(pk=member.batch_id).exclude(status=Batch.Status.CANCELLED).update(
            status=Batch.Status.FAILED, error=f"{member.path}: {reason}"
        )
    Path(member.archive_file).unlink(missing_ok=True)


def batch_cancel(batch: Batch) -> int:
    """Stop a batch: documents not yet ready end `cancelled`; in-flight tasks find nothing to claim."""
    with transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.CANCELLED)
        count = Document.objects.filter(batch=batch, status__in=Document.ACTIVE_STATUSES).update(
            status=Document.Status.CANCELLED, stage="cancelled", error="The batch was cancelled."
        )
        BatchMember.objects.filter(batch=batch, outcome=Outcome.QUEUED).update(
            outcome=Outcome.SKIPPED, reason="The batch was cancelled before this archive was unpacked."
        )
        Batch.objects.filter(pk=batch.pk).update(pending_archives=0)
    return count


def batch_retry_failed(batch: Batch) -> int:
    if batch.status == Batch.Status.CANCELLED:
        Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.PROCESSING)
    documents = Document.objects.filter(batch=batch, status__in=(Document.Status.FAILED, Document.Status.CANCELLED))
    return sum(1 for document in documents if document_retry(document))
