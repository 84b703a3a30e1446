"""The Celery application. Queues: `parse` (CPU-bound parsing), `embed` (embedding and indexing),
`default` (housekeeping). Each can be given its own workers."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docanalyst.settings")

app = Celery("docanalyst")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
