"""What changed between two versions of a clause: a word-level diff, and whether the change is material (a
number, amount, date, duration, cross-reference or obligation word differs)."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

# Changes separated by at most this many equal words are shown as one change: easier to read than fragments split
# around a single unchanged word.
MERGE_GAP = 1


@dataclass(frozen=True)
class Change:
    op: str
    left: str
    right: str


# --- Word diff and materiality ------------------------------------------------------------------------------

# A currency and its amount are one token, so a diff reads "USD 5,000,000" -> "USD 2,000,000".
_TOKEN = re.compile(r"(?:\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD)\s+(?=\d)|[$€£]\s*(?=\d))?\S+")
_REFERENCE = re.compile(
    r"\b(?:clauses?|sections?|articles?|paragraphs?)\s+(\d{1,3}(?:\.\d{1,3})*)|§+\s*(\d{1,3}(?:\.\d{1,3})*)", re.I
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z]+|%|[$€£]")
# Obligation and condition words, units of time, months, currencies and spelled-out numbers: a change in any of
# them changes what a clause requires, when, or how much.
_MATERIAL_WORDS = frozenset(
    (
        "shall must may will should not cannot no never nor required entitled obliged obligated prohibited only "
        "solely exclusively unless except "
        "hour hours day days week weeks month months year years business working calendar annually monthly "
        "quarterly weekly daily "
        "january february march april june july august september october november december "
        "usd eur gbp chf jpy cad aud dollars euros pounds $ € £ percent % "
        "zero one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
        "sixty seventy eighty ninety hundred thousand million billion half double twice"
    ).split()
)
_SYNONYMS = {"%": "percent", "hours": "hour", "days": "day", "weeks": "week", "months": "month", "years": "year"}


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def diff(left: str, right: str) -> list[Change]:
    """Word-level diff; changes separated by at most MERGE_GAP equal words are merged into one."""
    a, b = _tokens(left), _tokens(right)
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    merged: list[tuple[str, list[str], list[str]]] = []
    for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        segment = (tag, a[i1:i2], b[j1:j2])
        short_gap = tag == "equal" and i2 - i1 <= MERGE_GAP and 0 < n < len(opcodes) - 1
        if merged and merged[-1][0] != "equal" and (tag != "equal" or short_gap):
            _, left_words, right_words = merged[-1]
            left_words, right_words = left_words + segment[1], right_words + segment[2]
            op = "replace" if left_words and right_words else ("delete" if left_words else "insert")
            merged[-1] = (op, left_words, right_words)
        else:
            merged.append(segment)
    return [Change(op, " ".join(lw), " ".join(rw)) for op, lw, rw in merged]


def _material_tokens(text: str, renumbered: dict[str, str] | None = None) -> Counter[str]:
    """What a clause requires, when and how much: numbers, cross-references (renumbering applied) and the words
    in _MATERIAL_WORDS, case-insensitively and regardless of order."""
    tokens: Counter[str] = Counter()
    for match in _REFERENCE.finditer(text):
        ref = match[1] or match[2]
        tokens["ref " + (renumbered or {}).get(ref, ref)] += 1
    rest = _REFERENCE.sub(" ", text)
    for number in _NUMBER.findall(rest):
        value = number.replace(",", "")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        tokens["number " + value] += 1
    lowered = rest.lower().replace("’", "'").replace("n't", " not").replace("per cent", "percent")
    for word in _WORD.findall(lowered):
        if word in _MATERIAL_WORDS:
            tokens[_SYNONYMS.get(word, word)] += 1
    return tokens


def is_material(left: str, right: str, renumbered: dict[str, str]) -> bool:
    return _material_tokens(left, renumbered) != _material_tokens(right)
