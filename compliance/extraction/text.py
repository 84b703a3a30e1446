"""Passages as sentences and lines ("units"), whitespace-normalised, and quotes cut to `MAX_QUOTE_CHARS`: the
text helpers the field finders read with."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

from search.citations import MAX_QUOTE_CHARS, Passage

# --- splitting passages into sentences and lines -----------------------------------------------------------------

# Words after which a full stop does not end a sentence ("Drawing No. 12", "Acme Ltd. and", "Rev. C").
_ABBREVIATIONS = frozenset(
    "no nos nr rev doc dwg ltd inc co corp mr mrs ms dr st vs art sec cl fig approx ref para pp jr sr incl "
    "e.g i.e u.s u.k s.a n.v b.v l.p l.l.c p.c mat spec".split()
)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_LABEL_LINE = re.compile(r"^[A-Z][A-Za-z0-9 .,/&()'’-]{0,40}?\s*:\s*\S")
_ENUMERATED_LINE = re.compile(
    r"^(?:[-•*–]|\(?\d{1,2}(?:\.\d{1,2})*[.)]|\d{1,2}(?:\.\d{1,2})+|\(?[a-z][.)]|\([ivx]{1,4}\))\s"
)
_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _WS.sub(" ", text).strip()


def cut(text: str) -> str:
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"


def _hard_break(previous: str, line: str) -> bool:
    """Whether a line break ends a unit: labelled and enumerated lines, headings and finished sentences do;
    a break inside wrapped prose does not."""
    if previous.endswith((".", "!", "?", ":", ";")) or _LABEL_LINE.match(line) or _ENUMERATED_LINE.match(line):
        return True
    if _LABEL_LINE.match(previous):
        return True
    return len(previous) < 40 and not previous.endswith((",", "-", "(")) and line[:1].isupper()


def _split_sentences(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        words = line[start : match.start()].split()
        last = words[-1].lower().rstrip(".") if words else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        if len(words) == 1 and re.fullmatch(r"\(?\d{1,2}(?:\.\d{1,2})*", words[0]):
            continue  # a clause number ("1. MATERIAL: ...") stays with its clause
        end = match.end() - (len(match.group()) - len(match.group().rstrip()))
        pieces.append(line[start:end])
        start = match.end()
    pieces.append(line[start:])
    return [p.strip() for p in pieces if p.strip()]


@lru_cache(maxsize=512)
def units_of(text: str) -> tuple[str, ...]:
    """The passage's sentences and lines, whitespace-normalised; joining neighbours with one space gives
    the normalised original span, so a quote built from several units is still verbatim."""
    units: list[str] = []
    for paragraph in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        logical: list[str] = []
        for raw in paragraph.split("\n"):
            line = normalise(raw)
            if not line:
                continue
            if logical and not _hard_break(logical[-1], line):
                logical[-1] = f"{logical[-1]} {line}"
            else:
                logical.append(line)
        for line in logical:
            units.extend(_split_sentences(line))
    return tuple(units)


def iter_units(passages: Sequence[Passage]) -> Iterator[tuple[Passage, int, str]]:
    for passage in passages:
        for index, unit in enumerate(units_of(passage.text)):
            yield passage, index, unit


def is_clause(unit: str) -> bool:
    """Headings ("8. Confidentiality") and stamps ("CONFIDENTIAL") are not clauses worth quoting as a value."""
    return len(unit.split()) >= 6


def span_quote(units: Sequence[str], indexes: Sequence[int]) -> str:
    """The verbatim span from the first to the last matching unit when it fits, else the first unit."""
    span = " ".join(units[indexes[0] : indexes[-1] + 1])
    return span if len(span) <= MAX_QUOTE_CHARS else cut(units[indexes[0]])
