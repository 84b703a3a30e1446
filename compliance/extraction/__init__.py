"""Built-in extraction templates and the rule-based field finders used when no LLM is configured.

Each finder reads the document's passages in reading order and returns the value together with the
verbatim sentence (or line) it was read from, its chunk and its page — or None. The rules are
deliberately narrow: a missing value is better than an invented one, so every finder needs an explicit
textual signal (a label, a legal formula, a unit) and never guesses from a bare number.

Array fields (parties from labelled lines, materials, tolerances, referenced_standards) collect their
items from the first passage that has any; items in later passages are not merged, so that the one
chunk_id and page returned really contain every item.
"""

from compliance.extraction.dates import dates_in
from compliance.extraction.finders import find_field, has_rule
from compliance.extraction.found import Finder, Found
from compliance.extraction.templates import (
    BUILTIN_TEMPLATES,
    MAX_DESCRIPTION_CHARS,
    MAX_TEMPLATE_PROPERTIES,
    validate_template_schema,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_TEMPLATE_PROPERTIES",
    "Finder",
    "Found",
    "dates_in",
    "find_field",
    "has_rule",
    "validate_template_schema",
]
