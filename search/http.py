"""What the search pages (`views.py`) and the search API (`api.py`) share: the audit entry of a
search."""

from __future__ import annotations

from typing import Any

from audit.services import Action, audit_record
from search import answers
from search.forms import SearchForm


def audit_search(request: Any, query: str, form: SearchForm, hits: list[Any]) -> None:
    audit_record(
        action=Action.SEARCH,
        request=request,
        details={
            "query": query,
            "method": form.search_method().value,
            "filters": answers.filters_to_json(form.filters()),
            "result_chunk_ids": [h.chunk.vector_id for h in hits],
        },
    )
