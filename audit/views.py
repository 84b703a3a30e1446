"""The audit trail for compliance officers: browse and filter it, export it as CSV."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.models import AuditEvent, at_iso
from audit.selectors import AuditFilters, audit_events
from audit.services import Action, audit_record
from docanalyst.roles import is_compliance_officer

PAGE_SIZE = 50
CSV_COLUMNS = [
    "seq",
    "at",
    "actor",
    "ip",
    "via",
    "token_key",
    "action",
    "target_type",
    "target_id",
    "details",
    "prev_hash",
    "hash",
]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.CharField(required=False, max_length=64)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
    target_type = forms.CharField(required=False, max_length=64)
    target_id = forms.CharField(required=False, max_length=255)
    q = forms.CharField(required=False, max_length=200)

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            actor=data["actor"].strip(),
            action=data["action"].strip(),
            date_from=data["date_from"],
            date_to=data["date_to"],
            target_type=data["target_type"].strip(),
            target_id=data["target_id"].strip(),
            text=data["q"].strip(),
        )


def compliance_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Compliance officers only: others get 403, anonymous visitors the sign-in page."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_compliance_officer(request.user):
            raise PermissionDenied("The audit trail is for compliance officers.")
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@compliance_required
def audit_events_view(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    events = audit_events(form.filters()).order_by("-seq") if form.is_valid() else AuditEvent.objects.none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/events.html",
        {"form": form, "page": page, "actions": [a.value for a in Action]},
        status=200 if form.is_valid() else 400,
    )


class _Echo:
    """A file whose write() returns what was written, for csv.writer over a stream."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    # A spreadsheet would run text starting with = + - @ as a formula (usernames come from anyone
    # who tries to sign in): prefix such text with an apostrophe.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return f"'{value}"
    return value


def _csv_rows(events: Iterator[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in events:
        row = [
            e.seq,
            at_iso(e.at),
            e.actor_name,
            e.ip or "",
            e.via,
            e.token_key,
            e.action,
            e.target_type,
            e.target_id,
            e.details_json,
            e.prev_hash,
            e.hash,
        ]
        yield writer.writerow([_cell(v) for v in row])


@require_GET
@compliance_required
def audit_export_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse("Invalid filter: " + form.errors.as_text(), status=400, content_type="text/plain")
    filters = form.filters()
    export = audit_record(action=Action.AUDIT_EXPORT, request=request, details={"filters": filters.as_details()})
    # The trail as it stood when the export was asked for: without this export's own entry.
    events = audit_events(filters).filter(seq__lt=export.seq).order_by("seq").iterator(chunk_size=2000)
    response = StreamingHttpResponse(_csv_rows(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
