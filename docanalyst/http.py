"""HTTP helpers every app's pages and API share: the htmx request type, the JSON error pages under
`/api/`, citation links, server-sent events and the answer to a user over their rate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found, permission_denied
from django_htmx.middleware import HtmxDetails

_PERIODS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


class HtmxHttpRequest(HttpRequest):
    """A request as HtmxMiddleware leaves it (for type checkers)."""

    htmx: HtmxDetails


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler404`: JSON under /api/ (what the API documents), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler400` (a body Django cannot parse, e.g. broken multipart): JSON under /api/."""
    if request.path.startswith("/api/"):
        reason = str(exception) if exception else ""
        return JsonResponse({"detail": f"The request could not be read ({reason[:200]})."}, status=400)
    return default_bad_request(request, exception)  # type: ignore[arg-type]


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler403`: JSON under /api/."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(exception) or "You may not do this."}, status=403)
    return permission_denied(request, exception)  # type: ignore[arg-type]


def page_url(document_id: int, page: int | None, chunk_id: int | None = None) -> str:
    """Where a citation leads: the document's page, with the cited passage highlighted."""
    url = reverse("document-page", args=[document_id, page or 1])
    return f"{url}?chunk={chunk_id}#chunk-{chunk_id}" if chunk_id else url


def citations_with_urls(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "url": page_url(c["document_id"], c["page"], c.get("chunk_id"))} for c in citations]


def sse_response(events: Iterator[dict[str, Any]]) -> StreamingHttpResponse:
    """Server-sent events, one per answer event, flushed as they come."""

    def encode() -> Iterator[str]:
        for event in events:
            if event["type"] == "done":
                event = {
                    **event,
                    "citations": citations_with_urls(event["citations"]),
                    "closest": citations_with_urls(event["closest"]),
                }
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"

    response = StreamingHttpResponse(encode(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def rate_limited(what: str, rate: str) -> HttpResponse:
    """429 for a user over their rate (settings.RATE_LIMIT_ASK / RATE_LIMIT_SUMMARIZE)."""
    count, period = rate.split("/")
    message = f"Too many {what}: at most {count} per {_PERIODS[period]}. Please wait a little and try again."
    return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
