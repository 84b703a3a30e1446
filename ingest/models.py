"""Collections, documents and their chunks.

Chunks are stored here as well as in Chroma: the database is the source of truth for what a
search hit, a citation or an export shows; Chroma only finds candidates.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Collection(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CollectionAccess(models.Model):
    """Who may read (and write) a collection: one group or one user per row. Nobody else sees
    anything in it — not in search, answers, summaries, exports or the API — except admins, who
    manage collections. Every change is recorded in the audit trail."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="access")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="collection_access"
    )
    group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="collection_access"
    )
    can_write = models.BooleanField(default=False, help_text="May upload into, re-index and delete from it.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "collection access"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True) | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="access_for_exactly_one_user_or_group",
            ),
            models.UniqueConstraint(fields=["collection", "user"], name="one_access_row_per_user"),
            models.UniqueConstraint(fields=["collection", "group"], name="one_access_row_per_group"),
        ]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id else f"group {self.group_id}"
        return f"{who} {'writes' if self.can_write else 'reads'} collection {self.collection_id}"


class Batch(models.Model):
    """One upload (files or archives, from the browser, the API or `manage.py ingest`) and its
    manifest: every member, with what became of it."""

    class Status(models.TextChoices):
        UNPACKING = "unpacking", "Unpacking"
        PROCESSING = "processing", "Processing"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROCESSING)
    error = models.TextField(blank=True)
    pending_archives = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Batch {self.pk}: {self.name}"


class Document(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PARSING = "parsing", "Parsing"
        EMBEDDING = "embedding", "Embedding"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.PARSING, Status.EMBEDDING)
    TERMINAL_STATUSES = (Status.READY, Status.FAILED, Status.CANCELLED)

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="documents")
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        help_text="The e-mail this attachment came from.",
    )
    title = models.CharField(max_length=500)
    original_name = models.CharField(max_length=500)
    path = models.CharField(
        max_length=1000, db_index=True, help_text="Folder path inside the collection, with the name."
    )
    version = models.PositiveIntegerField(default=1)
    is_latest = models.BooleanField(default=True, db_index=True)
    previous_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_versions"
    )
    metadata = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="originals/", max_length=500)
    sha256 = models.CharField(max_length=64, db_index=True)
    mime_type = models.CharField(max_length=200, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=32, blank=True, default="queued")
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "path"], condition=models.Q(is_latest=True), name="one_latest_version_per_path"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL_STATUSES

    @property
    def is_pdf(self) -> bool:
        return self.mime_type == "application/pdf"


class Page(models.Model):
    """What lexical search ranks: the text of one page of a document (its chunks in order), or of
    one chunk for formats without pages. Written with the chunks, in the same transaction, and
    full-text indexed by the database (migration 0006: FTS5 on SQLite, a `tsvector` on PostgreSQL),
    so it is searchable exactly while its chunks exist."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField(null=True, blank=True)  # None: a format without pages
    ordinal = models.PositiveIntegerField()  # its first chunk's ordinal (a page-less unit: its only chunk)
    text = models.TextField()
    words = models.PositiveIntegerField(default=0)  # its length in index tokens: BM25's document length

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="page_unique_ordinal")]
        indexes = [models.Index(fields=["document", "number"], name="page_document_number")]

    def __str__(self) -> str:
        where = f"page {self.number}" if self.number is not None else f"passage {self.ordinal}"
        return f"{self.document_id} {where}"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    page_number = models.PositiveIntegerField(null=True, blank=True)
    section = models.CharField(max_length=500, blank=True)
    # What the passage belongs to — its document's title and its section — searchable beside the
    # text, so that a query naming a file, a drawing number or a heading finds the passages under it.
    context = models.CharField(max_length=1000, blank=True)
    element_types = models.JSONField(default=list)
    token_count = models.PositiveIntegerField(default=0)
    # The page it is on (a format without pages: the unit of this chunk alone); search ranks pages.
    page = models.ForeignKey(Page, null=True, blank=True, on_delete=models.CASCADE, related_name="chunks")

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_unique_ordinal")]

    def __str__(self) -> str:
        return f"{self.document_id}:{self.ordinal}"

    @staticmethod
    def context_for(title: str, section: str) -> str:
        return f"{title} — {section}"[:1000] if section else title[:1000]

    @property
    def vector_id(self) -> str:
        """Stable id in the vector store: re-indexing a document overwrites, never duplicates."""
        return f"{self.document_id}:{self.ordinal}"


class BatchMember(models.Model):
    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued"  # an archive waiting to be unpacked
        UNPACKED = "unpacked", "Unpacked"  # an archive whose members are listed beside it
        INGESTED = "ingested", "Ingested"  # a document was created (its own status tells the rest)
        DUPLICATE = "duplicate", "Duplicate"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="members")
    path = models.CharField(max_length=1000)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    size_bytes = models.BigIntegerField(default=0)
    archive_file = models.CharField(max_length=1000, blank=True, help_text="The spooled archive, until unpacked.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.path}: {self.outcome}"
