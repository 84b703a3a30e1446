"""Compliance records: summaries, comparisons and extraction runs, made in the worker on the
`compliance` queue, each keeping the document versions it was made from and the model and prompt
version that made it, so that exports can be reproduced. Tables keep the names they were created with."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ingest.models import Document


class RecordStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ComplianceRecord(models.Model):
    """A compliance product made in the worker (summary, comparison, extraction): its row shows
    progress while it runs and keeps what was produced, by whom, from which document versions
    (`sources`) and with which model and prompt version, so that exports can be reproduced."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=RecordStatus.choices, default=RecordStatus.QUEUED, db_index=True)
    stage = models.CharField(max_length=200, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)  # the delivery that holds the record while it runs
    # [{document_id, title, path, version, sha256, collection}] as they were when the work ran.
    sources = models.JSONField(default=list)
    backend = models.CharField(max_length=32, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in (RecordStatus.DONE, RecordStatus.FAILED)

    @property
    def source_document_ids(self) -> set[int]:
        return {int(s["document_id"]) for s in self.sources}


class Summary(ComplianceRecord):
    """A whole-document (or multi-document) summary: an overview and a section-by-section part,
    every sentence citing the passages it came from."""

    class Kind(models.TextChoices):
        EXECUTIVE = "executive", "Executive summary"
        LEGAL = "legal", "Obligations, rights, deadlines and risks"
        ENGINEERING = "engineering", "Requirements, specifications, tolerances and standards"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EXECUTIVE)
    title = models.CharField(max_length=500, blank=True)
    documents = models.ManyToManyField(Document, related_name="summaries")
    text = models.TextField(blank=True)  # the overview
    sections = models.JSONField(default=list)  # [{heading, pages, text}] covering the whole document(s)
    citations = models.JSONField(default=list)

    class Meta(ComplianceRecord.Meta):
        db_table = "docanalyst_summary"
        verbose_name_plural = "summaries"

    def __str__(self) -> str:
        return f"Summary {self.pk}: {self.title}"


class Comparison(ComplianceRecord):
    """Two documents (or two versions of one) aligned clause by clause."""

    left = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    rows = models.JSONField(default=list)  # aligned units: kind, left/right {text, page, chunk_id, key, heading}
    text = models.TextField(blank=True)  # the summary of material changes
    citations = models.JSONField(default=list)
    counts = models.JSONField(default=dict)  # {"added": n, "removed": n, "changed": n, "unchanged": n}

    class Meta(ComplianceRecord.Meta):
        db_table = "docanalyst_comparison"

    def __str__(self) -> str:
        return f"Comparison {self.pk}: {self.left_id} vs {self.right_id}"


class ExtractionTemplate(models.Model):
    """A JSON schema of the fields to extract. Built-in templates are kept in code and written to
    the database after every `migrate` (post_migrate); user-defined ones are validated when saved."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    schema = models.JSONField()
    builtin = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "docanalyst_extractiontemplate"
        ordering = ["-builtin", "name"]

    def __str__(self) -> str:
        return self.name


class ExtractionRun(ComplianceRecord):
    """A template run over documents; the schema is copied so that a later edit of the template
    never changes what this run's table means."""

    template = models.ForeignKey(ExtractionTemplate, null=True, on_delete=models.SET_NULL, related_name="runs")
    template_name = models.CharField(max_length=100)
    schema = models.JSONField()
    collection = models.ForeignKey(
        "ingest.Collection", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    documents = models.ManyToManyField(Document, related_name="extraction_runs")

    class Meta(ComplianceRecord.Meta):
        db_table = "docanalyst_extractionrun"

    def __str__(self) -> str:
        return f"Extraction {self.pk}: {self.template_name}"


class ExtractionValue(models.Model):
    """One field of one document: the value found (null = not found), with the passage and page it
    was read from, and its review."""

    class Review(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        CORRECTED = "corrected", "Corrected"

    run = models.ForeignKey(ExtractionRun, on_delete=models.CASCADE, related_name="values")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=100)
    value = models.JSONField(null=True, blank=True)  # as extracted; null = not found
    quote = models.TextField(blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    chunk_id = models.BigIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)  # why not found, or what the validator rejected
    review = models.CharField(max_length=16, choices=Review.choices, default=Review.PROPOSED)
    reviewed_value = models.JSONField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "docanalyst_extractionvalue"
        ordering = ["document_id", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "document", "field"], name="one_value_per_field")]

    def __str__(self) -> str:
        return f"{self.field} of document {self.document_id}"

    @property
    def found(self) -> bool:
        return self.value is not None

    @property
    def current_value(self) -> object:
        return self.reviewed_value if self.review == self.Review.CORRECTED else self.value


class ExtractionReviewEntry(models.Model):
    """Every approval or correction, with its author: the value's review history."""

    value = models.ForeignKey(ExtractionValue, on_delete=models.CASCADE, related_name="history")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, choices=ExtractionValue.Review.choices)
    previous = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "docanalyst_extractionreviewentry"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} of value {self.value_id}"
