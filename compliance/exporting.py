"""The one way out for an export: compliance officers only, a known format, rendered from the
stored record, and recorded in the audit trail with the sha256 of the bytes handed out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from audit.services import Action, audit_record
from compliance.exports.model import Report
from compliance.exports.render import FORMATS, ExportNotAvailable, render
from docanalyst.roles import is_compliance_officer


def export_response(
    request: Any, target_type: str, target_id: int, build: Callable[[], Report], fmt: str
) -> HttpResponse:
    if not is_compliance_officer(request.user):
        raise PermissionDenied("Exports are for compliance officers.")
    if fmt not in FORMATS:
        raise Http404(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    report = build()
    try:
        body = render(report, fmt)
    except ExportNotAvailable as exc:
        raise Http404(str(exc)) from exc
    response = HttpResponse(body, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{target_type}-{target_id}.{fmt}"'
    audit_record(
        action=Action.EXPORT,
        request=request,
        target_type=target_type,
        target_id=target_id,
        details={
            "format": fmt,
            "sha256": hashlib.sha256(body).hexdigest(),
            "documents": [s.document_id for s in report.sources],
        },
    )
    return response
