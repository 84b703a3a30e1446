from django.http import HttpRequest, HttpResponse
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request as HtmxMiddleware leaves it (for type checkers)."""

    htmx: HtmxDetails


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler404`: JSON under /api/ (what the API documents), Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)  # type: ignore[arg-type]


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler400` (a body Django cannot parse, e.g. broken multipart): JSON under /api/."""
    from django.http import JsonResponse
    from django.views.defaults import bad_request as default_bad_request

    if request.path.startswith("/api/"):
        reason = str(exception) if exception else ""
        return JsonResponse({"detail": f"The request could not be read ({reason[:200]})."}, status=400)
    return default_bad_request(request, exception)  # type: ignore[arg-type]


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler403`: JSON under /api/."""
    from django.http import JsonResponse
    from django.views.defaults import permission_denied

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(exception) or "You may not do this."}, status=403)
    return permission_denied(request, exception)  # type: ignore[arg-type]
