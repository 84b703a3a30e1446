"""Reads on the answering side, scoped by the same rule as documents."""

from __future__ import annotations

from django.db.models import QuerySet

from docanalyst.models import Answer, Conversation, Summary
from ingest.selectors import User, collections_readable_by


def summaries_visible_to(user: User) -> QuerySet[Summary]:
    return Summary.objects.filter(document__collection__in=collections_readable_by(user)).select_related(
        "document", "document__collection", "created_by"
    )


def conversations_of(user: User) -> QuerySet[Conversation]:
    """Conversations are private: only their owner ever sees them."""
    if not user.is_authenticated:
        return Conversation.objects.none()
    return Conversation.objects.filter(owner_id=user.pk)


def answers_of(user: User) -> QuerySet[Answer]:
    if not user.is_authenticated:
        return Answer.objects.none()
    return Answer.objects.filter(user_id=user.pk).select_related("conversation")
