"""Work is queued one way (`docanalyst.dispatch`, by task name): every name it sends is a task the
worker registers, every routed name is one of them, and nothing is sent before the transaction
that created its row commits."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from docanalyst import dispatch
from docanalyst.celery import app

NAMES = {
    value
    for name, value in vars(dispatch).items()
    if name.isupper() and isinstance(value, str) and name != "WAITING_FOR_QUEUE"
}


def test_every_name_dispatch_sends_is_a_registered_task() -> None:
    import compliance.tasks
    import ingest.tasks

    sent = NAMES
    assert sent <= set(app.tasks)
    assert set(dispatch.RECORD_TASKS.values()) <= sent
    assert {compliance.tasks.summarize.name, ingest.tasks.parse_document.name} <= sent


def test_every_routed_task_is_one_dispatch_sends() -> None:
    assert set(settings.CELERY_TASK_ROUTES) <= NAMES


@pytest.mark.django_db(transaction=True)
def test_a_task_is_sent_only_once_its_transaction_commits(monkeypatch: Any) -> None:
    sent: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **options: sent.append((name, args)))

    with transaction.atomic():
        dispatch.parse_document(7)
        assert sent == []
    assert sent == [(dispatch.PARSE_DOCUMENT, (7,))]


@pytest.mark.django_db(transaction=True)
def test_a_task_whose_transaction_rolls_back_is_never_sent(monkeypatch: Any) -> None:
    sent: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **options: sent.append(name))

    with pytest.raises(RuntimeError), transaction.atomic():
        dispatch.make_record("compliance.summary", 3)
        raise RuntimeError("the request failed after creating the record")
    assert sent == []
