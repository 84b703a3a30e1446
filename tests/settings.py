"""Test settings: the real settings module, pointed at services the test session starts itself
(Redis, Chroma) on free ports in a temporary folder. Child processes (the Celery worker) inherit
the same environment, so they see the same services."""

import os
import socket
import tempfile


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if "DOCANALYST_TEST_RUN_DIR" not in os.environ:
    run_dir = tempfile.mkdtemp(prefix="docanalyst-test-")
    os.environ.update(
        {
            "DOCANALYST_TEST_RUN_DIR": run_dir,
            "VAR_DIR": run_dir,
            "SECRET_KEY": "test-only-secret-key",
            "REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0",
            "CHROMA_HOST": "127.0.0.1",
            "CHROMA_PORT": str(_free_port()),
            "CHROMA_COLLECTION_PREFIX": "test",
            "TEST_SQLITE_PATH": os.path.join(run_dir, "test.sqlite3"),
            "LLM_BASE_URL": "",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        }
    )

from docanalyst.settings import *  # noqa: E402, F403

# Rate-limit counters in this process's memory: the Redis the session starts is only started for the
# tests that need it. (django-ratelimit warns that such a cache is not shared between processes.)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "docanalyst-tests"}}
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "django_ratelimit.E003", "django_ratelimit.W001"]  # noqa: F405
# Counters outlive a test and user ids repeat after a rollback: rates no test reaches, except the
# tests of the limits themselves (tests/test_security.py), which set tiny ones.
RATE_LIMIT_ASK = RATE_LIMIT_SUMMARIZE = "100000/m"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"ask": RATE_LIMIT_ASK, "summarize": RATE_LIMIT_SUMMARIZE},
}

os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405
