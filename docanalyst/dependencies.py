"""The services DocAnalyst depends on: how to tell that one is down, what to answer then (a 503
with a readable reason, JSON for the API, a page for the browser — never an HTML 500), and the
state of each for `/healthz` (publishing work so that a broker outage loses nothing is
`docanalyst.dispatch`).

Decisions:
- Rate limits **fail open** while Redis (their counter store) is down: asking and summarizing keep
  working and each skipped check is logged. The limits protect capacity, not data; refusing every
  question because a counter is unreachable would turn a cache outage into a product outage.
- Work accepted while the broker is down is **kept**: its row stays `queued` with the stage
  "waiting for the queue" (visible in the API and the browser), and the scheduler's sweep queues
  it once the broker answers again (`ingest.services.documents_requeue_stalled`,
  `compliance.records`). Nothing is refused or half-stored for a broker outage.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

import httpx
import kombu.exceptions
import redis
import redis.exceptions
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as default_server_error
from rest_framework.response import Response
from rest_framework.views import exception_handler

from backends.llm import LLMUnavailable

logger = logging.getLogger(__name__)

DATABASE, REDIS, CHROMA, MODEL = "database", "redis", "chroma", "model"
NAMES = {
    DATABASE: "The database",
    REDIS: "Redis (the task queue and the rate-limit counters)",
    CHROMA: "Chroma (the vector store)",
    MODEL: "The language model",
}
RETRY_AFTER_SECONDS = 30


def _transient_errors() -> tuple[type[BaseException], ...]:

    return (OperationalError, httpx.TransportError, ConnectionError, TimeoutError, redis.exceptions.ConnectionError)


# Errors a task retries with backoff (a dependency that may come back), rather than failing on.
TRANSIENT_ERRORS = _transient_errors()


def broker_errors() -> tuple[type[BaseException], ...]:

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, kombu.exceptions.OperationalError)


def unavailable(exc: BaseException) -> str | None:
    """Which dependency an exception says is down (None: it says something else)."""

    if isinstance(exc, LLMUnavailable):
        return MODEL
    if isinstance(exc, broker_errors()):
        return REDIS
    if isinstance(exc, OperationalError | InterfaceError):
        return DATABASE
    if isinstance(exc, httpx.TransportError):
        return CHROMA  # the only other HTTP service the app calls (the model's client raises LLMUnavailable)
    if isinstance(exc, ValueError) and "Could not connect to a Chroma server" in str(exc):
        return CHROMA
    if isinstance(exc, ConnectionError | socket.timeout):
        return CHROMA
    return None


def reason(dependency: str) -> str:
    return f"{NAMES[dependency]} is unavailable at the moment; try again shortly."


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """DRF's handler, plus: a dependency that is down is a 503 with a readable JSON reason."""

    dependency = unavailable(exc)
    if dependency is not None:
        logger.warning("%s unavailable during %s: %s", dependency, context.get("request"), exc)
        return Response(
            {"detail": reason(dependency), "unavailable": dependency},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return exception_handler(exc, context)


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: an uncaught exception anywhere (a view, the session or sign-in middleware)
    that says a dependency is down is a 503 with the reason — JSON under /api/ and for /healthz, a
    plain page otherwise (one that needs nothing from the database) — instead of Django's HTML 500."""

    exc = sys.exc_info()[1]
    dependency = unavailable(exc) if exc is not None else None
    if dependency is None:
        return default_server_error(request)
    logger.warning("%s unavailable during %s %s: %s", dependency, request.method, request.path, exc)
    if request.path.startswith("/api/") or request.path == "/healthz":
        response: HttpResponse = JsonResponse({"detail": reason(dependency), "unavailable": dependency}, status=503)
    else:
        response = HttpResponse(
            render_to_string("503.html", {"reason": reason(dependency)}), status=503, content_type="text/html"
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache, for the rate-limit counters, that fails open: while Redis is down a
    read finds nothing and a write is skipped (logged), so no request fails for it."""

    def _safely(self, call: Callable[[], Any], fallback: Any) -> Any:
        try:
            return call()
        except broker_errors() as exc:
            logger.warning("rate-limit store unavailable, limits not applied: %s", exc)
            return fallback

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._safely(lambda: super(FailOpenRedisCache, self).get(key, default, version), default)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        return self._safely(lambda: super(FailOpenRedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: Any = None) -> Any:
        return self._safely(lambda: super(FailOpenRedisCache, self).has_key(key, version), False)

    def add(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> Any:
        return self._safely(lambda: super(FailOpenRedisCache, self).add(key, value, timeout, version), False)

    def set(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> None:
        self._safely(lambda: super(FailOpenRedisCache, self).set(key, value, timeout, version), None)

    def set_many(self, data: Any, timeout: Any = None, version: Any = None) -> Any:
        return self._safely(lambda: super(FailOpenRedisCache, self).set_many(data, timeout, version), [])

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        # None is what django-ratelimit reads as "the count could not be read" (RATELIMIT_FAIL_OPEN).
        return self._safely(lambda: super(FailOpenRedisCache, self).incr(key, delta, version), None)

    def delete(self, key: Any, version: Any = None) -> Any:
        return self._safely(lambda: super(FailOpenRedisCache, self).delete(key, version), False)

    def touch(self, key: Any, timeout: Any = None, version: Any = None) -> Any:
        return self._safely(lambda: super(FailOpenRedisCache, self).touch(key, timeout, version), False)


# --- /healthz ---------------------------------------------------------------------------------------


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
    client.ping()
    return "ok"


def _check_chroma() -> str:

    scheme = "https" if settings.CHROMA_SSL else "http"
    response = httpx.get(f"{scheme}://{settings.CHROMA_HOST}:{settings.CHROMA_PORT}/api/v2/heartbeat", timeout=2)
    response.raise_for_status()
    return "ok"


def _check_model() -> str:

    headers = {"Authorization": f"Bearer {settings.LLM_API_KEY}"} if settings.LLM_API_KEY else {}
    response = httpx.get(f"{settings.LLM_BASE_URL.rstrip('/')}/models", timeout=2, headers=headers)
    response.raise_for_status()
    return "ok"


def health() -> tuple[bool, dict[str, dict[str, Any]]]:
    """Each dependency's state; healthy when every required one is up (the model, when one is
    configured, is reported but not required: search and extractive answers work without it)."""
    checks: dict[str, tuple[Callable[[], str], bool]] = {
        DATABASE: (_check_database, True),
        REDIS: (_check_redis, True),
        CHROMA: (_check_chroma, True),
    }
    if settings.LLM_BASE_URL:
        checks[MODEL] = (_check_model, False)
    report: dict[str, dict[str, Any]] = {}
    for name, (check, required) in checks.items():
        try:
            state, detail = check(), ""
        except Exception as exc:  # noqa: BLE001 - any failure is the state to report
            state, detail = "down", f"{type(exc).__name__}: {exc}"[:300]
        report[name] = {"state": state, "required": required, **({"detail": detail} if detail else {})}
    healthy = all(entry["state"] == "ok" for entry in report.values() if entry["required"])
    return healthy, report
