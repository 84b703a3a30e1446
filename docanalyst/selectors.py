"""Reads on the answering side, scoped by the same rule as documents."""

from __future__ import annotations

from django.db.models import QuerySet

from docanalyst.models import Summary
from ingest.selectors import User, collections_readable_by


def summaries_visible_to(user: User) -> QuerySet[Summary]:
    return Summary.objects.filter(document__collection__in=collections_readable_by(user)).select_related(
        "document", "document__collection", "created_by"
    )
