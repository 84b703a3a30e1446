"""Recording to the audit trail: `audit_record(...)`, the one way entries are written.

Usage, from any code path that does something a compliance officer must be able to see::

    from audit.services import audit_record

    audit_record(action=Action.DOCUMENT_DELETE, request=request, target_type="document", target_id=doc.pk,
                 details={"collection": doc.collection_id, "path": doc.path, "sha256": doc.sha256})

Signature::

    audit_record(*, action: str, request: HttpRequest | rest_framework.request.Request | None = None,
                 actor: User | None = None, target_type: str = "", target_id: str | int = "",
                 details: dict | None = None, via: str | None = None) -> AuditEvent

What it fills in:
- actor: `actor` if given, else `request.user` when signed in, else none (actor_name stays "").
- ip: REMOTE_ADDR; the first X-Forwarded-For address instead only when
  `settings.AUDIT_TRUST_X_FORWARDED_FOR` is true (behind a proxy that sets that header itself).
- user_agent: the request's User-Agent, cut to 200 characters.
- via / token_key: "api-token" and the knox token's `token_key` (its first 15 characters, not a
  secret) when the request was authenticated with an API token (a DRF request, or the Django
  request underneath it); "web" for any other request; "system" without a request. Pass
  `via="worker"` from Celery tasks and `via="cli"` from management commands.
- details: JSON-safe copy (non-JSON values become strings, tuples lists) with every key that names a
  secret removed at any depth: keys with a word (split at `_`, `-`, digits, camelCase) among
  password(s), passwd, passphrase, pwd, secret(s), token, key, apikey(s), credential(s),
  authorization, cookie, session. Counts in the plural pass: `prompt_tokens`, `keywords`.

Action names (dotted, lower case): the members of `Action`, the only names recorded. Suggested details:
- search: {"query", "filters", "result_chunk_ids"}
- question: {"question", "retrieved_chunk_ids", "sent_chunk_ids", "model", "answer_sha256"
  (use `text_sha256(answer)`), "prompt_tokens", "completion_tokens"}
- summary.made / comparison.made / extractionrun.made: {"documents", "model", "result_sha256"};
  export: {"format", "what", "id"}
- document.delete / batch.create: target_type "document" / "batch" and the id.
- token.use: a request authenticated by an API token (via and token_key come from the request);
  the model's token counts belong in the question/summary details as prompt_tokens etc.
Details are shown to compliance officers and exported: identifiers and hashes, not document text.

Helpers: `text_sha256(text)`, `describe_request(request)` (ip, user agent, via, token_key),
`bound_request(request)` (a context manager: records made from signals inside it name that request's
user), `sanitize_details(details)`.

Recorded by `audit.signals` without any call: auth.login, auth.login_failed (the attempted
username, never the password), auth.logout, permission.change (users created, deleted, or whose
is_superuser/is_staff/is_active changed; group and permission memberships), token.create and
token.revoke (knox tokens created or deleted). Those signals name the acting user when
`audit.middleware.AuditRequestMiddleware` is installed (after AuthenticationMiddleware).

Transactions and failures:
- The entry is written in `transaction.atomic()`. Inside the caller's transaction it commits or
  rolls back with it: an action that rolled back leaves no entry, which is the truth. Appends are
  serialized on the chain head row, which stays locked until the outermost transaction ends: call
  `audit_record` near the end of long transactions, not at their start.
- A failure to record is never silent: it is logged at ERROR and the exception propagates, so the
  action it describes fails too (or its transaction rolls back).
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import hashlib
import ipaddress
import logging
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address
from knox.models import AbstractAuthToken
from rest_framework.request import Request

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, Via

logger = logging.getLogger("audit")


class Action(enum.StrEnum):
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGOUT = "auth.logout"
    BATCH_CREATE = "batch.create"
    DOCUMENT_DELETE = "document.delete"
    PERMISSION_CHANGE = "permission.change"
    SEARCH = "search"
    QUESTION = "question"
    EXPORT = "export"
    SUMMARY_REQUEST = "summary.request"
    COMPARISON_REQUEST = "comparison.request"
    EXTRACTION_REQUEST = "extraction.request"
    SUMMARY_MADE = "summary.made"
    COMPARISON_MADE = "comparison.made"
    EXTRACTION_MADE = "extractionrun.made"
    EXTRACTION_REVIEW = "extraction.review"
    EXTRACTION_TEMPLATE = "extraction.template"
    TOKEN_CREATE = "token.create"  # noqa: S105 - an action name
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name
    TOKEN_USE = "token.use"  # noqa: S105 - an action name
    AUDIT_EXPORT = "audit.export"


_ACTION_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_LOCK_RETRIES = 3


# --- details --------------------------------------------------------------------------------------

SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "token",
        "key",
        "apikey",
        "apikeys",
        "credential",
        "credentials",
        "authorization",
        "cookie",
        "session",
    }
)
_WORD_SPLIT = re.compile(r"[^a-zA-Z]+|(?<=[a-z])(?=[A-Z])")


def is_secret_key(name: str) -> bool:
    """`password`, `new_password2`, `apiKey`, `X-Auth-Token`, `client_secret`: yes;
    `prompt_tokens`, `keywords`, `sessionid`: no."""
    return any(word.lower() in SECRET_WORDS for word in _WORD_SPLIT.split(str(name)) if word)


def sanitize_details(value: Any) -> Any:
    """A JSON-safe copy of `value` without secret-named keys (at any depth), NUL characters or
    values that would not read back equal from the database (non-finite or huge integral floats)."""
    if isinstance(value, dict):
        return {_clean_text(str(k)): sanitize_details(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [sanitize_details(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 1e15:
            return int(value)  # PostgreSQL's jsonb would give it back as an integer
        return value if value != 0 else 0.0  # and -0.0 as 0.0
    return _clean_text(str(value))


def _clean_text(text: str, limit: int | None = None) -> str:
    text = text.replace("\x00", "")  # PostgreSQL refuses NUL in text and jsonb
    return text[:limit] if limit is not None else text


def text_sha256(text: str) -> str:
    """The hash to record for an answer or summary (the text itself stays out of the trail)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the request ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFacts:
    ip: str | None = None
    user_agent: str = ""
    via: str = Via.SYSTEM
    token_key: str = ""


def normalize_ip(raw: str | None) -> str | None:
    """The address as the database gives it back (so that the hash holds), or None if not one."""
    if not raw:
        return None
    candidate = raw.strip()
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return None
    return clean_ipv6_address(candidate) if ":" in candidate else candidate


def client_ip(request: Any) -> str | None:
    meta = getattr(request, "META", {}) or {}
    if getattr(settings, "AUDIT_TRUST_X_FORWARDED_FOR", False):
        forwarded = str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")[0]
        if normalize_ip(forwarded):
            return normalize_ip(forwarded)
    return normalize_ip(str(meta.get("REMOTE_ADDR", "")))


def describe_request(request: Any) -> RequestFacts:
    """Where a request came from: address, user agent, and whether an API token authenticated it.

    Works on a Django request and on a DRF `Request` (whose `.auth` is the knox `AuthToken` when
    knox authenticated it; DRF copies `.auth` onto the Django request underneath as well)."""
    if request is None:
        return RequestFacts()
    meta = getattr(request, "META", {}) or {}
    user_agent = _clean_text(str(meta.get("HTTP_USER_AGENT", "")), 200)
    auth = getattr(request, "auth", None)
    if isinstance(auth, AbstractAuthToken):
        return RequestFacts(client_ip(request), user_agent, Via.API_TOKEN, _clean_text(auth.token_key, 32))
    return RequestFacts(client_ip(request), user_agent, Via.WEB, "")


# The request being served, for records made where no request is at hand (model signals). Set by
# `audit.middleware.AuditRequestMiddleware`.
_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "audit_current_request", default=None
)


@contextlib.contextmanager
def bound_request(request: HttpRequest) -> Iterator[None]:
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def current_request() -> HttpRequest | None:
    return _current_request.get()


# --- appending ------------------------------------------------------------------------------------


def audit_record(
    *,
    action: str,
    request: HttpRequest | Request | None = None,
    actor: AbstractBaseUser | None = None,
    target_type: str = "",
    target_id: str | int = "",
    details: dict[str, Any] | None = None,
    via: str | None = None,
) -> AuditEvent:
    """Append one entry to the audit trail and return it (see the module docstring)."""
    if not _ACTION_NAME.fullmatch(action or "") or len(action) > 64:
        raise ValueError(f"Not an audit action name: {action!r}")
    if via is not None and via not in Via.values:
        raise ValueError(f"via must be one of {Via.values}, not {via!r}")
    facts = describe_request(request)
    if actor is not None and not actor.is_authenticated:
        actor = None
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if isinstance(user, AbstractBaseUser) and user.is_authenticated:
            actor = user
    fields: dict[str, Any] = {
        "actor_id": actor.pk if actor is not None else None,
        "actor_name": _clean_text(actor.get_username(), 150) if actor is not None else "",
        "ip": facts.ip,
        "user_agent": facts.user_agent,
        "via": str(via or facts.via),
        "token_key": facts.token_key,
        "action": str(action),
        "target_type": _clean_text(str(target_type), 64),
        "target_id": _clean_text(str(target_id), 255),
        "details": sanitize_details(details or {}),
    }
    try:
        return _append(fields)
    except Exception:
        logger.exception("Could not write the audit entry %s (%s %s)", action, target_type, target_id)
        raise


def _append(fields: dict[str, Any]) -> AuditEvent:
    in_outer_transaction = connection.in_atomic_block
    for attempt in range(1, _LOCK_RETRIES + 1):
        try:
            with transaction.atomic():
                return _append_locked(fields)
        except OperationalError as exc:
            # Only a statement that never got the lock is worth repeating, and only when no outer
            # transaction is left broken behind us.
            if "locked" not in str(exc) or in_outer_transaction or attempt == _LOCK_RETRIES:
                raise
            logger.warning("Audit trail locked, retrying (%d/%d)", attempt, _LOCK_RETRIES)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _append_locked(fields: dict[str, Any]) -> AuditEvent:
    # The UPDATE comes first: it takes SQLite's write lock at once and PostgreSQL's row lock, so
    # two appends can never read the same head.
    if not AuditChainHead.objects.filter(pk=1).update(seq=F("seq") + 1):
        _create_head()
        AuditChainHead.objects.filter(pk=1).update(seq=F("seq") + 1)
    head = AuditChainHead.objects.get(pk=1)
    event = AuditEvent(seq=head.seq, at=timezone.now(), prev_hash=head.hash, **fields)
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    head.hash = event.hash
    head.save(update_fields=["hash"])
    return event


def _create_head() -> None:
    """The head row is created by the migration; a test database flush removes it. Recreate it
    only when the trail is empty: entries without a head are for `verify_audit` to report."""
    if AuditEvent.objects.exists():
        raise RuntimeError("The audit chain head is missing while entries exist; run manage.py verify_audit")
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(pk=1, seq=0, hash=GENESIS_HASH)
    except IntegrityError:
        pass  # created meanwhile by a concurrent first append
