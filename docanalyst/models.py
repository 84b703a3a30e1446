"""Records of what the read side produced: answers and summaries, kept so that exports can be
reproduced later from what was actually shown, with the model and prompt version that made it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ingest.models import Document


class Answer(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers")
    question = models.TextField()
    text = models.TextField()
    supported = models.BooleanField(default=True)
    citations = models.JSONField(default=list)
    chunks_sent = models.JSONField(default=list)  # vector ids of the passages given to the backend
    backend = models.CharField(max_length=32)
    model_name = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Answer {self.pk}: {self.question[:60]}"


class Summary(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="summaries")
    document_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    citations = models.JSONField(default=list)
    backend = models.CharField(max_length=32)
    model_name = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "summaries"

    def __str__(self) -> str:
        return f"Summary {self.pk} of document {self.document_id}"
