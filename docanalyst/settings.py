"""DocAnalyst settings: everything comes from the environment, bad values fail at start-up.

Every variable is documented in `.env.example`. Secrets may also be given as `<NAME>_FILE`
(a path whose content is the value), the way Docker and Kubernetes secrets are mounted.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from docanalyst import offline
from docanalyst.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Keep every library we load from reaching for a hub or a telemetry endpoint. Must run before
# sentence-transformers, transformers, chromadb or unstructured are imported anywhere.
offline.apply_environment()


DEBUG = env_bool("DEBUG", False)
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()


def _secret_key() -> str:
    """SECRET_KEY or SECRET_KEY_FILE; else the key `make run` generated in VAR_DIR on its first
    start (so `manage.py` commands in another shell use the same one); else, with DEBUG only, a
    development key; else fail."""
    if os.environ.get("SECRET_KEY") or os.environ.get("SECRET_KEY_FILE"):
        return env_str("SECRET_KEY")
    generated = VAR_DIR / "secret_key"
    if generated.is_file() and generated.stat().st_size:
        return generated.read_text(encoding="utf-8").strip()
    if DEBUG:
        return "insecure-development-key-only-used-with-debug"
    raise ImproperlyConfigured(
        f"The environment variable SECRET_KEY is required (or SECRET_KEY_FILE, or {generated}, which "
        "`make run` writes on its first start)."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1,http://localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "django_htmx",
    "csp",
    "axes",
    "django_ratelimit",
    "ingest",
    "docanalyst",
    "search",
    "compliance",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a sign-in refused for too many failures into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "docanalyst.urls"
WSGI_APPLICATION = "docanalyst.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite in WAL mode by default (web and workers write concurrently); PostgreSQL via DATABASE_URL.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'docanalyst.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_SQLITE_PATH", str(VAR_DIR / "test.sqlite3"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "search"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()

# Uploads: large files stream to disk rather than memory.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("UPLOAD_MAX_FILES", 1000, minimum=1)
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 512 * 1024 * 1024, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
# The audit trail records the first X-Forwarded-For address instead of REMOTE_ADDR (behind a proxy).
AUDIT_TRUST_X_FORWARDED_FOR = env_bool("AUDIT_TRUST_X_FORWARDED_FOR", False)
X_FRAME_OPTIONS = "SAMEORIGIN"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # pages carry the token themselves (hx-headers in base.html); no script reads the cookie
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12, minimum=1) * 3600
SECURE_REFERRER_POLICY = "same-origin"
_HSTS_SECONDS = env_int("HSTS_SECONDS", 0, minimum=0)
_TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
if SESSION_COOKIE_SECURE:  # served over HTTPS (make run serves plain HTTP on loopback: neither applies)
    SECURE_HSTS_SECONDS = _HSTS_SECONDS
    if _TRUST_X_FORWARDED_PROTO:  # TLS ends at a reverse proxy that sets X-Forwarded-Proto itself
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts, styles, fonts and connections from this site only,
# no inline script or style anywhere (templates use static files and classes; htmx is told not to
# inject its indicator style, see base.html). Responses that set their own policy keep it (originals).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'self'"],
        "form-action": ["'self'"],
    }
}

# --- Signing in ----------------------------------------------------------------------------------
# django-axes: after LOGIN_FAILURE_LIMIT failed sign-ins for one username from one address, that
# pair is refused (even with the right password) until LOGIN_COOLOFF_MINUTES pass without another
# try. Only failures count, and a successful sign-in clears them. Admins lift a lockout under
# Admin > Axes > Access attempts, or with `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = [
    "docanalyst.signin.LoginThrottleBackend",  # axes' AxesStandaloneBackend, see docanalyst/signin.py
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_DISABLE_ACCESS_LOG = True  # the audit trail records sign-ins and sign-outs
# The address counted is the one the audit trail records: the connection's, or the first
# X-Forwarded-For address with AUDIT_TRUST_X_FORWARDED_FOR (behind a proxy every client would
# otherwise share the proxy's address).
AXES_CLIENT_IP_CALLABLE = "audit.services.client_ip"

# Optional single sign-on through an OpenID Connect provider (mozilla-django-oidc). Users it creates
# get no role and no collection access until an admin grants them.
OIDC_ENABLED = env_bool("OIDC_ENABLED", False)
if OIDC_ENABLED:
    _oidc_sign_algo = env_str("OIDC_RP_SIGN_ALGO", "RS256")
    if not re.fullmatch(r"(RS|PS|ES|HS)(256|384|512)", _oidc_sign_algo):
        raise ImproperlyConfigured(f"OIDC_RP_SIGN_ALGO={_oidc_sign_algo!r} is not a JWS algorithm such as RS256.")
    _oidc_required = [
        "OIDC_RP_CLIENT_ID",
        "OIDC_RP_CLIENT_SECRET",
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
    ]
    if not _oidc_sign_algo.startswith("HS"):  # HS* verifies with the client secret, the others with the JWKS
        _oidc_required.append("OIDC_OP_JWKS_ENDPOINT")
    _oidc_missing = [n for n in _oidc_required if not (os.environ.get(n) or os.environ.get(f"{n}_FILE"))]
    if _oidc_missing:
        raise ImproperlyConfigured(f"OIDC_ENABLED is true, so these must be set too: {', '.join(_oidc_missing)}.")
    OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
    OIDC_RP_SIGN_ALGO = _oidc_sign_algo
    OIDC_USERNAME_ALGO = "docanalyst.signin.oidc_username"
    LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/"  # a path: mozilla-django-oidc does not resolve names here
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("mozilla_django_oidc.auth.OIDCAuthenticationBackend")

# --- Celery -------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None  # the document row is the source of truth, not a result backend
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Worker processes load the embedder and parsers when they start (WORKER_PRELOAD): give them time
# to report ready before the pool gives up on them.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 180
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "ingest.tasks.parse_document": {"queue": "parse"},
    "ingest.tasks.embed_document": {"queue": "embed"},
    "ingest.tasks.unpack_archive": {"queue": "parse"},
    "compliance.tasks.summarize": {"queue": "compliance"},
    "compliance.tasks.compare": {"queue": "compliance"},
    "compliance.tasks.extract": {"queue": "compliance"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT", 900, minimum=10)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
# Summaries, comparisons and extractions of long documents or whole collections with an LLM run
# longer than one document's ingestion: their own limit (the `compliance` queue).
COMPLIANCE_SOFT_TIME_LIMIT = env_int("COMPLIANCE_SOFT_TIME_LIMIT", 3600, minimum=10)
COMPLIANCE_TIME_LIMIT = COMPLIANCE_SOFT_TIME_LIMIT + 60
# A running summary/comparison/extraction whose row has not moved for this long lost its worker.
COMPLIANCE_STALL_SECONDS = env_int("COMPLIANCE_STALL_SECONDS", COMPLIANCE_TIME_LIMIT + 60, minimum=1)
# While the model (or the database) is down, a summary/comparison/extraction waits and retries
# after each of these delays in seconds, then fails with the service's message.
try:
    COMPLIANCE_RETRY_DELAYS = tuple(int(d) for d in env_list("COMPLIANCE_RETRY_DELAYS", "5,20,60"))
except ValueError as exc:
    raise ImproperlyConfigured("COMPLIANCE_RETRY_DELAYS must be seconds separated by commas, e.g. 5,20,60.") from exc
if not COMPLIANCE_RETRY_DELAYS or min(COMPLIANCE_RETRY_DELAYS) < 0:
    raise ImproperlyConfigured("COMPLIANCE_RETRY_DELAYS must list at least one delay of 0 s or more.")
# An unacknowledged message is redelivered after this long; longer than any task may run. A web
# process publishing while Redis is down or paused gives up within seconds (and keeps the work for
# the sweep) instead of blocking the request.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int(
        "CELERY_VISIBILITY_TIMEOUT",
        max(CELERY_TASK_TIME_LIMIT, COMPLIANCE_TIME_LIMIT) + 300,
        max(CELERY_TASK_TIME_LIMIT, COMPLIANCE_TIME_LIMIT) + 1,
    ),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-documents": {
        "task": "ingest.tasks.requeue_stalled_documents",
        "schedule": env_int("STALL_SWEEP_SECONDS", 5, minimum=1),
    },
    "requeue-stalled-records": {
        "task": "compliance.tasks.requeue_stalled_records",
        "schedule": env_int("STALL_SWEEP_SECONDS", 5, minimum=1),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# While a stage runs, its document's row is touched every INGEST_HEARTBEAT_SECONDS. A working
# document whose row has not moved for INGEST_STALL_SECONDS belongs to a dead worker and is queued
# again by the sweep (every STALL_SWEEP_SECONDS): a killed worker's document is picked up again
# within INGEST_STALL_SECONDS + STALL_SWEEP_SECONDS (25 s by default; the fault test measures it).
# After INGEST_MAX_ATTEMPTS pick-ups of one stage it is marked failed.
INGEST_HEARTBEAT_SECONDS = env_float("INGEST_HEARTBEAT_SECONDS", 5.0)
INGEST_STALL_SECONDS = env_int("INGEST_STALL_SECONDS", max(1, int(INGEST_HEARTBEAT_SECONDS * 4)), minimum=1)
INGEST_MAX_ATTEMPTS = env_int("INGEST_MAX_ATTEMPTS", 3, minimum=1)
if INGEST_STALL_SECONDS <= 2 * INGEST_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("INGEST_STALL_SECONDS must be more than twice INGEST_HEARTBEAT_SECONDS.")

# Archives: limits enforced while unpacking (zip bombs, huge or endless archives).
ARCHIVE_MAX_TOTAL_BYTES = env_int("ARCHIVE_MAX_TOTAL_BYTES", 20 * 1024**3, minimum=1)
ARCHIVE_MAX_MEMBERS = env_int("ARCHIVE_MAX_MEMBERS", 50_000, minimum=1)
ARCHIVE_MAX_RATIO = env_float("ARCHIVE_MAX_RATIO", 200.0)
ARCHIVE_MAX_DEPTH = env_int("ARCHIVE_MAX_DEPTH", 3, minimum=0)

# --- Retrieval backends -------------------------------------------------------------------------
EMBEDDING_MODEL_PATH = env_str("EMBEDDING_MODEL_PATH", "")  # empty: the packaged all-MiniLM-L6-v2
EMBEDDING_DEVICE = env_str("EMBEDDING_DEVICE", "cpu")
# auto: on a CPU, ONNX Runtime (the model exported once to VAR_DIR/models, same vectors) or PyTorch,
# whichever encodes faster on this machine (measured once, backends/encoder_choice.py); PyTorch on
# a GPU; or onnx / torch.
EMBEDDING_BACKEND = env_choice("EMBEDDING_BACKEND", "auto", ["auto", "onnx", "torch"])
EMBEDDING_ONNX_DIR = Path(env_str("EMBEDDING_ONNX_DIR", str(VAR_DIR / "models")))  # where the export is kept
if EMBEDDING_BACKEND == "onnx" and EMBEDDING_DEVICE != "cpu":
    raise ImproperlyConfigured("EMBEDDING_BACKEND=onnx runs on the CPU: use torch (or auto) with EMBEDDING_DEVICE.")
# 0: on a CPU the faster of 4 and 32 on this machine (measured with the backend), 64 on a GPU.
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 0, minimum=0)
# Threads torch may use per worker process. 0: a fair share of this machine's cores among the stages
# running at that moment (all of them for a lone embedding, one each when every process is busy).
EMBEDDING_THREADS = env_int("EMBEDDING_THREADS", 0, minimum=0)
# Load models and parsers when a worker process starts.
WORKER_PRELOAD = env_bool("WORKER_PRELOAD", True)
CHUNK_TARGET_TOKENS = env_int("CHUNK_TARGET_TOKENS", 200, minimum=16)
# How born-digital PDF pages are read: pdfium (the fast path: PDFium's text layer, `unstructured`
# only for pages whose text layer is unusable) or unstructured (every page through its fast strategy).
PDF_TEXT_READER = env_choice("PDF_TEXT_READER", "pdfium", ["pdfium", "unstructured"])
OCR_LANGUAGES = env_str("OCR_LANGUAGES", "eng")  # Tesseract language packs, e.g. "eng+deu"
OCR_DPI = env_int("OCR_DPI", 200, minimum=50)

CHROMA_HOST = env_str("CHROMA_HOST", "127.0.0.1")
CHROMA_PORT = env_int("CHROMA_PORT", 8001, minimum=1)
CHROMA_SSL = env_bool("CHROMA_SSL", False)
CHROMA_PATH = Path(env_str("CHROMA_PATH", str(VAR_DIR / "chroma"))).resolve()
CHROMA_COLLECTION_PREFIX = env_str("CHROMA_COLLECTION_PREFIX", "docanalyst")

SEARCH_DEFAULT_K = env_int("SEARCH_DEFAULT_K", 10, minimum=1)
# Candidates each retrieval leg (vector, lexical) brings to the fusion, at least; k x 4 when larger.
SEARCH_CANDIDATES = env_int("SEARCH_CANDIDATES", 40, minimum=1)
# At most this many pages of one document in a result list while other documents have matches
# (half of the default k: a question answered on one document's pages still finds them, a
# question across documents still sees several).
SEARCH_MAX_PER_DOCUMENT = env_int("SEARCH_MAX_PER_DOCUMENT", 5, minimum=1)
# Threads per web process that run searches' dense leg (encoder + Chroma) beside their lexical leg;
# 0: the legs one after the other in the request's thread.
SEARCH_DENSE_THREADS = env_int("SEARCH_DENSE_THREADS", 4, minimum=0)
_REMOVED = {
    "SEARCH_LEXICAL_WEIGHT": "the fusion weighs each leg by how far its best pages stand out (no weight to set)",
    "SEARCH_EXACT_MAX_MATCHES": "a rare part number stands out in BM25 by itself",
    "SEARCH_FRONT_MATTER_WEIGHT": "document-level BM25 over all pages replaced the front-matter prior",
    "SEARCH_DOCUMENT_EVIDENCE": "document-level BM25 over all pages is always part of the ranking",
    "ANSWER_MIN_SCORE": "set ANSWER_MIN_SUPPORT (similarity plus the share of the question on the page)",
    "WORK_SOFT_TIME_LIMIT": "renamed COMPLIANCE_SOFT_TIME_LIMIT",
    "WORK_STALL_SECONDS": "renamed COMPLIANCE_STALL_SECONDS",
    "WORK_RETRY_DELAYS": "renamed COMPLIANCE_RETRY_DELAYS",
}
for _name, _why in _REMOVED.items():
    if _name in os.environ:
        raise ImproperlyConfigured(f"{_name} is no longer read: {_why}. Remove it from the environment.")
# A local cross-encoder (sentence-transformers CrossEncoder directory) that reorders the fused
# candidates; empty: the fused ranking stands. Never a hub name: nothing is downloaded.
RERANKER_MODEL = env_str("RERANKER_MODEL", "")
if RERANKER_MODEL and not (Path(RERANKER_MODEL) / "config.json").exists():
    raise ImproperlyConfigured(f"RERANKER_MODEL={RERANKER_MODEL!r} is not a local model directory (no config.json).")
RERANKER_CANDIDATES = env_int("RERANKER_CANDIDATES", 30, minimum=1)
# An answer needs a page whose support reaches this: its best passage's cosine similarity to the
# question plus the IDF-weighted share of the question's terms on it (each 0..1). Below it, the
# documents are said not to hold an answer (bench/eval_retrieval measures both sides of it).
ANSWER_MIN_SUPPORT = env_float("ANSWER_MIN_SUPPORT", 0.8)
if not 0 <= ANSWER_MIN_SUPPORT <= 2:
    raise ImproperlyConfigured("ANSWER_MIN_SUPPORT must be between 0 and 2 (similarity plus share, each 0..1).")
ANSWER_PASSAGES = env_int("ANSWER_PASSAGES", 5, minimum=1)

# --- LLM (OpenAI-compatible: vLLM in production) ------------------------------------------------
LLM_BASE_URL = env_str("LLM_BASE_URL", "")  # empty: extractive answers, no generative model
LLM_MODEL = env_str("LLM_MODEL", "")
LLM_API_KEY = env_str("LLM_API_KEY", "not-needed")
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 120.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0)
LLM_CONTEXT_TOKENS = env_int("LLM_CONTEXT_TOKENS", 8192, minimum=512)
LLM_MAX_ANSWER_TOKENS = env_int("LLM_MAX_ANSWER_TOKENS", 512, minimum=16)
# How extraction asks for output that validates against the template's JSON schema:
# "json_schema" (OpenAI's response_format, served by vLLM), "guided_json" (vLLM's older extra
# parameter), "json_object" (llama.cpp's server: response_format with a schema), or "off".
# Every output is validated against the schema in any case.
LLM_STRUCTURED_OUTPUT = env_choice(
    "LLM_STRUCTURED_OUTPUT", "json_schema", ["json_schema", "guided_json", "json_object", "off"]
)
if LLM_BASE_URL and not LLM_MODEL:
    raise ImproperlyConfigured("LLM_BASE_URL is set, so LLM_MODEL must name the served model.")

# --- Cache and rate limits ----------------------------------------------------------------------
# Asking and summarizing cost model time: each user may do so RATE_LIMIT_ASK / RATE_LIMIT_SUMMARIZE
# times (N/s, N/m, N/h or N/d), in the browser and through the API alike; beyond that, 429. The
# counters live in a cache every web process shares: Redis, database 1 of REDIS_URL by default.
RATE_LIMIT_ASK = env_str("RATE_LIMIT_ASK", "30/m")
RATE_LIMIT_SUMMARIZE = env_str("RATE_LIMIT_SUMMARIZE", "10/m")
for _name, _rate in (("RATE_LIMIT_ASK", RATE_LIMIT_ASK), ("RATE_LIMIT_SUMMARIZE", RATE_LIMIT_SUMMARIZE)):
    if not re.fullmatch(r"[1-9][0-9]*/[smhd]", _rate):
        raise ImproperlyConfigured(f"{_name}={_rate!r} is not a rate such as 30/m (per s, m, h or d).")
CACHE_URL = env_str("CACHE_URL", urlunsplit(urlsplit(REDIS_URL)._replace(path="/1")))
# The rate-limit counters. Fails open while Redis is down (docanalyst.dependencies), within a second.
CACHES = {
    "default": {
        "BACKEND": "docanalyst.dependencies.FailOpenRedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
RATELIMIT_FAIL_OPEN = True
# django-ratelimit names only django-redis among Redis backends; Django's own increments atomically too.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "docanalyst.auth.AuditedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # A dependency that is down is a 503 with a readable JSON reason (docanalyst.dependencies).
    "EXCEPTION_HANDLER": "docanalyst.dependencies.api_exception_handler",
    # JSON bodies (uploads alone are multipart, in their own view); nested deeper than
    # docanalyst.validation.MAX_JSON_DEPTH they are a 400, not a RecursionError. Anything else: 415.
    "DEFAULT_PARSER_CLASSES": ["docanalyst.validation.BoundedJSONParser"],
    # ScopedRateThrottle scopes, per user: "ask" (search.api.AskApi) and "summarize" (the creating
    # views of compliance.api: summaries, comparisons, extractions).
    "DEFAULT_THROTTLE_RATES": {"ask": RATE_LIMIT_ASK, "summarize": RATE_LIMIT_SUMMARIZE},
}
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DocAnalyst API",
    "DESCRIPTION": "Upload, search, ask and summarize documents. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Path parameters as the URL converters take them (docanalyst.validation).
    "PATH_CONVERTER_OVERRIDES": {
        "id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "export": {"type": "string", "enum": ["pdf", "docx", "md", "csv", "xlsx"]},
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "docanalyst.schema.add_error_responses",
    ],
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Bearer tokens, passwords, API keys and credentials in URLs are masked in every record.
    "filters": {"redact_secrets": {"()": "docanalyst.logging.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "docanalyst": {"level": LOG_LEVEL},
        "ingest": {"level": LOG_LEVEL},
        "search": {"level": LOG_LEVEL},
        "compliance": {"level": LOG_LEVEL},
        "audit": {"level": LOG_LEVEL},
        "backends": {"level": LOG_LEVEL},
    },
}
