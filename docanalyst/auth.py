"""API authentication: knox Bearer tokens, each use recorded in the audit trail (`token.use`)."""

from __future__ import annotations

from typing import Any

from knox.auth import TokenAuthentication
from rest_framework.request import Request

from audit.services import Action, audit_record


class AuditedTokenAuthentication(TokenAuthentication):
    """knox's `Authorization: Bearer <token>` authentication that records every request it
    authenticates as `token.use` (the token's key and owner, never its secret)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        django_request = request._request
        # What DRF sets once authentication is done; `describe_request` reads the token key from it.
        setattr(django_request, "auth", token)  # noqa: B010
        audit_record(
            action=Action.TOKEN_USE,
            request=django_request,
            actor=user,
            details={"method": request.method, "path": request.path},
        )
        return result
