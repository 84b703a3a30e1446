"""Template helpers. Document text is untrusted: it is escaped before any markup is added."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from compliance.reports import value_text
from docanalyst.http import citations_with_urls

register = template.Library()

STOPWORDS = frozenset(
    """the and for are was were what which who whom this that these those with from into about does did
    has have had not but can its it's our your their there here how why when where is of to in on at by be
    as an a or""".split()
)
_WORD = re.compile(r"[\w§.\-/]+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    phrases = re.findall(r'"([^"]+)"', query)
    rest = re.sub(r'"[^"]*"', " ", query)
    words = [w.strip(".-/") for w in _WORD.findall(rest.replace('"', " "))]
    terms = {t for t in phrases + words if len(t) >= 3 and t.lower() not in STOPWORDS}
    return sorted(terms, key=len, reverse=True)


@register.filter
def highlight(text: str, query: str) -> SafeString:
    """Escape `text`, then wrap each occurrence of a query term in <mark>."""
    escaped = escape(text)
    terms = query_terms(query or "")
    if not terms:
        return mark_safe(escaped)  # noqa: S308 - escaped above
    pattern = re.compile("|".join(re.escape(escape(t)) for t in terms), re.IGNORECASE)
    return mark_safe(pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped))  # noqa: S308


@register.filter
def cite_links(text: str, citations: list[dict]) -> SafeString:
    """Escape an answer and turn its [n] markers into links to the cited page."""
    urls = {str(c["n"]): c.get("url", "") for c in citations}
    escaped = escape(text)

    def link(match: re.Match[str]) -> str:
        n = match.group(1)
        if n not in urls:
            return match.group(0)
        return f'<a class="cite" href="{escape(urls[n])}" data-citation="{n}">[{n}]</a>'

    return mark_safe(re.sub(r"\[(\d{1,5})\]", link, escaped).replace("\n", "<br>"))  # noqa: S308


@register.filter
def page_range(count: int | None) -> range:
    return range(1, (count or 0) + 1)


@register.filter
def getlist(data: Any, key: str) -> list[str]:
    """All values of a repeated query parameter (`?type=pdf&type=word`)."""
    return list(data.getlist(key)) if hasattr(data, "getlist") else []


@register.filter
def with_urls(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Citations (as stored on an answer) with the link to their page and passage."""
    return citations_with_urls(citations)


@register.filter
def field_value(value: Any) -> str:
    """An extracted value as the exports show it (`reports.value_text`)."""
    return value_text(value)
