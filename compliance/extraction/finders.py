"""The table of built-in fields that have a rule, with the generic finders it uses (a clause quoted whole, a list
of items from one passage), and reading a field by its rule."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from compliance.extraction.finders_contract import (
    ASSIGN,
    CONFIDENTIAL,
    RENEWAL,
    TERMINATE,
    WHO_OR_NOTICE,
    find_effective_date,
    find_governing_law,
    find_liability_cap,
    find_parties,
    find_term,
)
from compliance.extraction.finders_engineering import (
    find_document_date,
    find_document_number,
    find_revision,
    materials_in,
    standards_in,
    tolerances_in,
)
from compliance.extraction.found import Finder, Found, found
from compliance.extraction.text import cut, is_clause, iter_units, span_quote, units_of
from search.citations import Passage


def _sentence_finder(pattern: re.Pattern[str], also: re.Pattern[str] | None = None) -> Finder:
    """A finder whose value is the first clause matching the pattern (and `also`, when given)."""

    def find(passages: Sequence[Passage]) -> Found | None:
        for passage, _, unit in iter_units(passages):
            if pattern.search(unit) and (also is None or also.search(unit)) and is_clause(unit):
                return found(cut(unit), unit, passage)
        return None

    return find


def _list_finder(items_in: Callable[[str], list[str]]) -> Finder:
    """A finder collecting distinct items, in order, from the first passage that has any."""

    def find(passages: Sequence[Passage]) -> Found | None:
        for passage in passages:
            units = units_of(passage.text)
            per_unit = [(index, items_in(unit)) for index, unit in enumerate(units)]
            matched = [(index, items) for index, items in per_unit if items]
            if matched:
                values = list(dict.fromkeys(item for _, items in matched for item in items))
                quote = span_quote(units, [index for index, _ in matched])
                return Found(value=values, quote=quote, chunk_id=passage.chunk_id, page=passage.page)
        return None

    return find


_FINDERS: dict[str, Finder] = {
    "parties": find_parties,
    "effective_date": find_effective_date,
    "term": find_term,
    "renewal": _sentence_finder(RENEWAL),
    "termination": _sentence_finder(TERMINATE, WHO_OR_NOTICE),
    "governing_law": find_governing_law,
    "liability_cap": find_liability_cap,
    "confidentiality": _sentence_finder(CONFIDENTIAL),
    "assignment": _sentence_finder(ASSIGN),
    "document_number": find_document_number,
    "revision": find_revision,
    "date": find_document_date,
    "materials": _list_finder(materials_in),
    "tolerances": _list_finder(tolerances_in),
    "referenced_standards": _list_finder(standards_in),
}


def has_rule(name: str) -> bool:
    return name in _FINDERS


def find_field(name: str, passages: Sequence[Passage]) -> Found | None:
    """The rule-based value of a built-in field with its quote, chunk and page; None when there is no rule for
    the field or nothing in the text matches it (never a guess)."""
    finder = _FINDERS.get(name)
    return finder(passages) if finder else None
