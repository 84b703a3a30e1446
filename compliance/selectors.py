"""Reads of compliance records, scoped by the same rule as documents: a record is shown only
while every document it was made from exists and is readable."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.db.models import QuerySet
from django.http import Http404

from compliance.models import Comparison, ComplianceRecord, ExtractionRun, ExtractionTemplate, Summary
from docanalyst.roles import is_compliance_officer
from ingest.models import Document
from ingest.selectors import User, collections_readable_by

R = TypeVar("R", bound=ComplianceRecord)


def _unreadable_documents(user: User) -> QuerySet[Document]:
    return Document.objects.exclude(collection__in=collections_readable_by(user))


def summaries_visible_to(user: User) -> QuerySet[Summary]:
    """Summaries of documents the user can read (see `records_checked` for the full rule)."""
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


def records_checked(user: User, records: Iterable[R]) -> list[R]:
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


def record_get(user: User, records: QuerySet[R], pk: int) -> R:
    """One record by id, or 404 — whether it does not exist or the user may not see it."""
    record = records.filter(pk=pk).first()
    if record is None or not records_checked(user, [record]):
        raise Http404("No such record.")
    return record
