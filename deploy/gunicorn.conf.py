"""Gunicorn settings for production (`-c deploy/gunicorn.conf.py`). Threads let streamed
answers (server-sent events) run beside ordinary requests."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = int(os.environ.get("WEB_TIMEOUT", "300"))
accesslog = "-"
