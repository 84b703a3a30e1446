"""Reads on the asking side: a user's conversations and answers, withheld when they drew on
documents the user can no longer read."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from ingest.models import Document
from ingest.selectors import User, collections_readable_by
from search.models import Answer, Conversation


def conversations_of(user: User) -> QuerySet[Conversation]:
    """Conversations are private: only their owner ever sees them."""
    if not user.is_authenticated:
        return Conversation.objects.none()
    return Conversation.objects.filter(owner_id=user.pk)


def answers_of(user: User) -> QuerySet[Answer]:
    if not user.is_authenticated:
        return Answer.objects.none()
    return Answer.objects.filter(user_id=user.pk).select_related("conversation")


WITHHELD_TEXT = "This answer drew on documents you can no longer read, so it is withheld."


def answers_checked(user: User, answers: Iterable[Answer]) -> list[Answer]:
    """Answers as they may be shown now: an answer whose passages came from a collection the user
    can no longer read (access revoked, document deleted) is withheld — its text quotes them."""
    answers = list(answers)
    used = {answer.pk: _source_document_ids(answer) for answer in answers}
    cited = set().union(*used.values())
    readable = set(
        Document.objects.filter(pk__in=cited, collection__in=collections_readable_by(user)).values_list("pk", flat=True)
    )
    for answer in answers:
        if used[answer.pk] - readable:
            answer.text, answer.citations, answer.closest, answer.supported = WITHHELD_TEXT, [], [], False
    return answers


def _source_document_ids(answer: Answer) -> set[int]:
    """The documents an answer drew on: cited, shown as closest, or sent to the model."""
    ids = {int(c["document_id"]) for c in [*answer.citations, *answer.closest]}
    return ids | {int(v.split(":", 1)[0]) for v in answer.chunks_sent if v.split(":", 1)[0].isdigit()}
