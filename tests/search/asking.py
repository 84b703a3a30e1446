"""Asking a question and waiting for the whole answer, as the tests do: the product streams
answers (`search.answers.answer_events`) and never waits for one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from backends.llm import LLMUnavailable
from ingest.selectors import User
from search.answers import answer_create, answer_events
from search.models import Answer, Conversation
from search.retrieval import SearchFilters


def answer_question(
    *,
    user: User,
    question: str,
    collection_ids: Sequence[int] | None = None,
    filters: SearchFilters | None = None,
    conversation: Conversation | None = None,
    request: Any = None,
) -> Answer:
    """Ask and wait for the whole answer. Raises `LLMUnavailable` when the model fails (the
    failure is recorded on the answer); callers show its message."""
    if collection_ids:
        filters = dataclasses.replace(filters or SearchFilters(), collection_ids=list(collection_ids))
    answer = answer_create(user=user, question=question, conversation=conversation, filters=filters)
    for event in answer_events(answer, request):
        if event["type"] == "error":
            raise LLMUnavailable(event["message"])
    answer.refresh_from_db()
    return answer
