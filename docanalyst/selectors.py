"""Reads on the answering side, scoped by the same rule as documents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.db.models import QuerySet
from django.http import Http404

from docanalyst.models import Answer, Comparison, Conversation, ExtractionRun, ExtractionTemplate, Summary, WorkRecord
from docanalyst.roles import is_compliance_officer
from ingest.models import Document
from ingest.selectors import User, collections_readable_by

R = TypeVar("R", bound=WorkRecord)


def _unreadable_documents(user: User) -> QuerySet[Document]:
    return Document.objects.exclude(collection__in=collections_readable_by(user))


def summaries_visible_to(user: User) -> QuerySet[Summary]:
    """Summaries of documents the user can read (see `work_records_checked` for the full rule)."""
    if not user.is_authenticated:
        return Summary.objects.none()
    return Summary.objects.exclude(documents__in=_unreadable_documents(user)).select_related("created_by")


def comparisons_visible_to(user: User) -> QuerySet[Comparison]:
    if not user.is_authenticated:
        return Comparison.objects.none()
    readable = collections_readable_by(user)
    return Comparison.objects.filter(left__collection__in=readable, right__collection__in=readable).select_related(
        "created_by", "left", "right"
    )


def extraction_runs_visible_to(user: User) -> QuerySet[ExtractionRun]:
    """Extraction tables are compliance work: compliance officers who can read every document of the run."""
    if not is_compliance_officer(user):
        return ExtractionRun.objects.none()
    return ExtractionRun.objects.exclude(documents__in=_unreadable_documents(user)).select_related("created_by")


def extraction_templates() -> QuerySet[ExtractionTemplate]:
    return ExtractionTemplate.objects.all()


def work_records_checked(user: User, records: Iterable[R]) -> list[R]:
    """The records the user may see now: every document a record was made from must still exist
    and be readable (its text quotes them), else the record is withheld."""
    records = list(records)
    wanted: set[int] = set().union(*(r.source_document_ids for r in records)) if records else set()
    readable = set(
        Document.objects.filter(pk__in=wanted, collection__in=collections_readable_by(user)).values_list(
            "pk", flat=True
        )
    )
    # A record drawn from no document (none recorded) is nobody's: shown to no one.
    return [r for r in records if r.source_document_ids and r.source_document_ids <= readable]


def work_record_get(user: User, records: QuerySet[R], pk: int) -> R:
    """One record by id, or 404 — whether it does not exist or the user may not see it."""
    record = records.filter(pk=pk).first()
    if record is None or not work_records_checked(user, [record]):
        raise Http404("No such record.")
    return record


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
