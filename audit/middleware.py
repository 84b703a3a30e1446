"""Binds the request being served so that records made from model signals (a user made staff in
the admin, a group membership changed, a token revoked) name who did it and from where.

Install after AuthenticationMiddleware: `"audit.middleware.AuditRequestMiddleware"`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from audit.services import bound_request


class AuditRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with bound_request(request):
            return self.get_response(request)
