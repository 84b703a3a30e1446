"""Cutting a document into clause units for comparison: clause numbers ("9.2", "Article IV", "§ 3"), inline
titles, heading-only paragraphs, page furniture, and list items or sentences that continue the clause before them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceChunk:
    """One stored passage of a document, in reading order."""

    chunk_id: int
    text: str
    page: int | None
    section: str


@dataclass(frozen=True)
class Unit:
    """A clause (or unnumbered paragraph): the granularity at which two documents are compared.

    ``text`` is whitespace-normalised and has the leading clause number removed (it lives in ``key``), so that a
    renumbered clause still compares equal; the clause's own title stays in the text.
    """

    key: str
    heading: str
    text: str
    page: int | None
    chunk_id: int
    index: int


# --- Units ------------------------------------------------------------------------------------------------------

_NAMED_KEY = re.compile(
    r"^(?P<word>(?i:article|art\.|part|schedule|annex|appendix|exhibit))\s+"
    r"(?P<id>\d{1,3}|[IVXLivxl]+|[A-Z])(?![\w.]*\w)[.:)]?(?=\s|$)"
)
# A bare number only counts as a clause number when a capital letter (or nothing) follows: "9.2 Limitation ..."
# is a clause, "3.5 kg of ..." or "12 months after ..." is not. With a prefix ("Section", "§") anything may follow.
_NUMBERED_KEY = re.compile(
    r"^(?:(?P<prefix>(?i:section|sec\.|clause|cl\.)|§+)\s*)?(?P<id>\d{1,3}(?:\.\d{1,3})*)(?:\.|\))?(?=\s|$)"
)
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50}
_SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
)
_TITLE_SPLIT = re.compile(r"^(?P<title>.{1,80}?)(?:\.|:|\s[-–—])\s+(?=\S)")
_FURNITURE = re.compile(r"^[-–—\s]*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?[-–—\s]*$", re.IGNORECASE)
_CONTINUATION = re.compile(r"^(?:\(?[a-z]{1,4}\)|\(\d{1,2}\)|[•·▪*\-–—])\s")


def normalise(text: str) -> str:
    return " ".join(text.split())


def _roman_to_int(numeral: str) -> int:
    values = [_ROMAN[c] for c in numeral.lower()]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def _split_key(text: str) -> tuple[str, str]:
    """The normalised clause number at the start of a paragraph (or "") and the text after it."""
    named = _NAMED_KEY.match(text)
    if named:
        word = named["word"].lower().rstrip(".")
        word = "article" if word == "art" else word
        ident = named["id"]
        if ident.isdigit():
            ident = str(int(ident))
        elif set(ident.lower()) <= set(_ROMAN):
            ident = str(_roman_to_int(ident))
        else:
            ident = ident.lower()
        return f"{word} {ident}", text[named.end() :].strip()
    numbered = _NUMBERED_KEY.match(text)
    if numbered:
        rest = text[numbered.end() :].strip()
        if numbered["prefix"] or not rest or rest[0].isupper():
            return ".".join(str(int(part)) for part in numbered["id"].split(".")), rest
    return "", text


def _is_title(text: str, max_words: int = 10) -> bool:
    words = text.split()
    if not 1 <= len(words) <= max_words or not any(w[0].isupper() for w in words):
        return False
    for word in words:
        letters = [c for c in word if c.isalpha()]
        if letters and not letters[0].isupper() and word.lower() not in _SMALL_WORDS:
            return False
    return True


def _title_of(rest: str) -> str:
    """The clause's inline title ("Limitation of Liability" in "Limitation of Liability. The aggregate ...")."""
    match = _TITLE_SPLIT.match(rest)
    return match["title"] if match and _is_title(match["title"]) else ""


def _is_heading(raw: str, key: str, rest: str) -> bool:
    """A paragraph that is only a heading ("9 LIABILITY", "Article 4", "DEFINITIONS"): it has no body of its own."""
    if "\n" in raw.strip() or rest.endswith((",", ";")):
        return False
    if key:
        return not rest or _is_title(rest.rstrip(".:"), max_words=12)
    return not rest.endswith((".", ":")) and _is_title(rest) and (rest.isupper() or len(rest.split()) <= 6)


@dataclass
class _Draft:
    key: str
    heading: str
    parts: list[str]
    page: int | None
    chunk_id: int
    absorbs_body: bool  # started by a heading: every following unnumbered paragraph is the clause's body


# A numbered clause starting inside a paragraph: PDF text layers often run several clauses together
# ("… shall not exceed USD 5,000,000. 10. Termination. Either party …").
_INLINE_CLAUSE = re.compile(
    r"(?<=[.;:])\s+(?=(?:(?:Section|Clause|Article)\s+)?(?:§\s*)?\d{1,3}(?:\.\d{1,3})*\.?\s+[A-Z])"
)


def _paragraphs(text: str) -> list[str]:
    """Paragraphs (blank-line separated), each cut again where a numbered clause starts inside it."""
    return [piece for paragraph in re.split(r"\n\s*\n", text) for piece in _INLINE_CLAUSE.split(paragraph)]


def units_of(chunks: Sequence[SourceChunk]) -> list[Unit]:
    """Cut a document (its chunks in reading order) into clause units.

    A heading-only paragraph is merged into the paragraph(s) that follow it, and gives its title to the numbered
    sub-clauses under it; list items ("(a) ...") and paragraphs that continue a sentence join the clause before
    them. Units never span chunks, so a clause running over a page break becomes two units, each with its page.
    Empty paragraphs and page furniture ("Page 3 of 10", "- 3 -") are dropped.
    """
    drafts: list[_Draft] = []
    pending: list[str] = []  # heading paragraphs waiting for their body (may be carried over a page break)
    pending_key, pending_title = "", ""
    context_key, context_title = "", ""  # the enclosing clause, whose title sub-clauses without one inherit

    for chunk in chunks:
        open_draft: _Draft | None = None
        for raw in _paragraphs(chunk.text):
            text = normalise(raw)
            if not text or _FURNITURE.match(text):
                continue
            key, rest = _split_key(text)
            if _is_heading(raw, key, rest):
                if pending and key and pending_key and not key.startswith(pending_key + "."):
                    # Two headings of different clauses in a row: the first one had no body; keep it alone.
                    drafts.append(
                        _Draft(pending_key, pending_title or chunk.section, pending, chunk.page, chunk.chunk_id, False)
                    )
                    pending, pending_key, pending_title = [], "", ""
                title = rest.rstrip(".:")
                pending.append(title)
                pending_key = key or pending_key
                pending_title = title or pending_title
                if key:
                    context_key, context_title = key, title
                open_draft = None
                continue
            if key:
                title = _title_of(rest)
                under_context = bool(context_key) and (key == context_key or key.startswith(context_key + "."))
                if not under_context:
                    context_key, context_title = key, title
                heading = title or (context_title if under_context else "") or pending_title or chunk.section
                open_draft = _Draft(key, heading, [*pending, rest], chunk.page, chunk.chunk_id, False)
                pending, pending_key, pending_title = [], "", ""
                drafts.append(open_draft)
            elif pending:
                open_draft = _Draft(
                    pending_key, pending_title or chunk.section, [*pending, text], chunk.page, chunk.chunk_id, True
                )
                pending, pending_key, pending_title = [], "", ""
                drafts.append(open_draft)
            elif open_draft is not None and (open_draft.absorbs_body or _CONTINUATION.match(text) or text[0].islower()):
                open_draft.parts.append(text)
            else:
                open_draft = _Draft("", chunk.section, [text], chunk.page, chunk.chunk_id, False)
                drafts.append(open_draft)
    if pending and chunks:
        last = chunks[-1]
        drafts.append(_Draft(pending_key, pending_title or last.section, pending, last.page, last.chunk_id, False))

    units: list[Unit] = []
    for draft in drafts:
        text = normalise(" ".join(draft.parts))
        if text:
            units.append(Unit(draft.key, draft.heading, text, draft.page, draft.chunk_id, len(units)))
    return units
