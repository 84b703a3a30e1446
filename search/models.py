"""What the asking side keeps: a user's conversations and every answer as it was shown (text,
citations, the chunks retrieved and sent, the model and prompt version), so that an export can be
reproduced later from what the user saw. Tables keep the names they were created with."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    """A user's thread of questions; private to its owner. Follow-up questions are read in the
    context of the earlier turns."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200)
    filters = models.JSONField(default=dict, blank=True)  # the search filters its questions use
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "docanalyst_conversation"
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Answer(models.Model):
    """One question and its answer, as shown: text, citations, the chunks retrieved and the chunks
    sent to the model, the model and prompt version. Created `pending` when asked, so that a
    streamed answer has a row from the first byte and a failure is recorded on it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STREAMING = "streaming", "Streaming"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="answers")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="answers"
    )
    question = models.TextField()
    retrieval_query = models.TextField(blank=True)  # the question as searched (with the conversation's context)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DONE)
    error = models.TextField(blank=True)
    text = models.TextField(blank=True)
    supported = models.BooleanField(default=True)
    citations = models.JSONField(default=list)
    closest = models.JSONField(default=list)  # shown instead of an answer when none is supported
    chunks_retrieved = models.JSONField(default=list)  # vector ids, in rank order
    chunks_sent = models.JSONField(default=list)  # vector ids of the passages given to the backend
    backend = models.CharField(max_length=32, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "docanalyst_answer"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Answer {self.pk}: {self.question[:60]}"
