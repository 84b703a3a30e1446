"""Sign-in pieces: the login-throttling backend and the username given to single sign-on users."""

from __future__ import annotations

import hashlib
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first in AUTHENTICATION_BACKENDS: refuses a sign-in for a
    username and address that failed too often, whatever the password.

    Only sign-ins that come with a web request are throttled. axes refuses every call without one
    outright; such calls are not web sign-ins (the test client's `login()`, the shell, a management
    command), so here they pass through to the backends that check the password."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def oidc_username(email: str | None, claims: dict[str, Any] | None = None) -> str:
    """A single sign-on user's username: their email address (readable in the audit trail), or a
    digest of their subject when the provider sends no email."""
    if email:
        return email[:150]
    subject = str((claims or {}).get("sub", ""))
    return "oidc-" + hashlib.sha256(subject.encode()).hexdigest()[:32]
