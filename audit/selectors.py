"""Reads of the audit trail, for the compliance pages and the CSV export."""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from audit.models import AuditEvent


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""  # part of the actor's username, any case
    action: str = ""  # "search" exactly, "auth" or "auth." for every auth.* action
    date_from: datetime.date | None = None  # inclusive, in the site's time zone
    date_to: datetime.date | None = None  # inclusive
    target_type: str = ""
    target_id: str = ""
    text: str = ""  # part of the details, any case

    def as_details(self) -> dict[str, str]:
        """The filters that are set, as recorded with an export."""
        return {k: v.isoformat() if isinstance(v, datetime.date) else v for k, v in asdict(self).items() if v}


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def audit_events(filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The entries matching `filters`, unordered."""
    events = AuditEvent.objects.all()
    if filters.actor:
        events = events.filter(actor_name__icontains=filters.actor)
    if filters.action:
        if filters.action.endswith("."):
            events = events.filter(action__startswith=filters.action)
        else:
            events = events.filter(Q(action=filters.action) | Q(action__startswith=f"{filters.action}."))
    if filters.date_from:
        events = events.filter(at__gte=_start_of(filters.date_from))
    if filters.date_to:
        events = events.filter(at__lt=_start_of(filters.date_to + datetime.timedelta(days=1)))
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    if filters.text:
        events = events.alias(details_text=Cast("details", TextField())).filter(details_text__icontains=filters.text)
    return events
