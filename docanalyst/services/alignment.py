"""Clause-by-clause comparison of two documents (two contracts, two revisions of a specification).

Both documents are cut into units (a clause, or a paragraph that belongs to no numbered clause), the units are
paired across the two sides - identical text first, then the same clause number, then meaning (embeddings) - and
every pair or leftover becomes one row of a side-by-side view: unchanged, changed (with a word-level diff), added or
removed. ``material`` marks what a reviewer must not miss: a changed number, amount, date, duration or obligation
word, or a whole clause added or removed; rewording and renumbering alone are not material.

The embedder is passed in (``encode``) so that this module loads no ML library and tests can use the real one.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

# Cosine similarity above which two units that share neither text nor clause number are the same clause. Measured
# with all-MiniLM-L6-v2: a lightly reworded clause scores about 0.99 against its original, a heavy paraphrase 0.80-0.85,
# while different clauses of one contract (same register, same parties) reach about 0.68 and unrelated ones 0.2.
THRESHOLD = 0.75
# Same clause number on both sides: the number is evidence, so a weaker similarity suffices (a clause rewritten
# in substance still pairs), but two unrelated clauses that happen to share a number after renumbering do not.
KEY_THRESHOLD = 0.5
# A same-number pair is refused when either unit has a partner that is at least this much more similar (and
# itself above THRESHOLD): renumbering must not win over meaning.
KEY_MARGIN = 0.1
# Added to the score of a meaning-based pair that keeps the relative order of the pairs already made: between two
# equally good candidates, the one in the expected place wins.
ORDER_BONUS = 0.05
# Changes separated by at most this many equal words are shown as one change: easier to read than fragments split
# around a single unchanged word.
MERGE_GAP = 1
QUOTE_CHARS = 160
MAX_DESCRIBED_CHANGES = 3


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


@dataclass(frozen=True)
class Change:
    op: str
    left: str
    right: str


@dataclass(frozen=True)
class Row:
    kind: str
    left: Unit | None
    right: Unit | None
    similarity: float
    changes: list[Change] = field(default_factory=list)
    material: bool = False


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


def _normalise(text: str) -> str:
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
            text = _normalise(raw)
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
        text = _normalise(" ".join(draft.parts))
        if text:
            units.append(Unit(draft.key, draft.heading, text, draft.page, draft.chunk_id, len(units)))
    return units


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


def _diff(left: str, right: str) -> list[Change]:
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


def _is_material(left: str, right: str, renumbered: dict[str, str]) -> bool:
    return _material_tokens(left, renumbered) != _material_tokens(right)


# --- Alignment ---------------------------------------------------------------------------------------------------


def _embed(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    vectors = np.asarray(encode(texts), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"encode returned shape {vectors.shape} for {len(texts)} texts")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _same_heading(a: Unit, b: Unit) -> bool:
    return bool(a.heading.strip()) and _normalise(a.heading).casefold() == _normalise(b.heading).casefold()


def _assign(weights: np.ndarray) -> list[tuple[int, int]]:
    """Maximum-weight one-to-one matching over positive weights (optimal with scipy, greedy without)."""
    if weights.size == 0:
        return []
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        linear_sum_assignment = None
    if linear_sum_assignment is not None:
        rows, cols = linear_sum_assignment(weights, maximize=True)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if weights[r, c] > 0]
    pairs: list[tuple[int, int]] = []
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    for flat in np.argsort(-weights, axis=None, kind="stable"):
        r, c = (int(x) for x in np.unravel_index(flat, weights.shape))
        if weights[r, c] <= 0:
            break
        if r not in used_rows and c not in used_cols:
            pairs.append((r, c))
            used_rows.add(r)
            used_cols.add(c)
    return pairs


def _order_consistent(pairs: dict[int, int], n_left: int, n_right: int) -> np.ndarray:
    """consistent[i, j]: right unit j lies between the partners of left unit i's nearest paired neighbours."""
    anchors = sorted(pairs.items())
    lefts = [i for i, _ in anchors]
    consistent = np.zeros((n_left, n_right), dtype=bool)
    columns = np.arange(n_right)
    for i in range(n_left):
        at = bisect.bisect_left(lefts, i)
        low = anchors[at - 1][1] if at > 0 else -1
        high = anchors[at][1] if at < len(anchors) else n_right
        consistent[i] = (columns > low) & (columns < high)
    return consistent


def _pair(
    left: Sequence[Unit], right: Sequence[Unit], encode: Callable[[list[str]], np.ndarray]
) -> tuple[dict[int, int], dict[tuple[int, int], float]]:
    """Left index -> right index for every pair, and the similarity of the pairs made by meaning or number."""
    left_texts = [_normalise(u.text) for u in left]
    right_texts = [_normalise(u.text) for u in right]
    pairs: dict[int, int] = {}

    # 1. Identical text, wherever it moved; among duplicates, prefer the same clause number, then reading order.
    free_by_text: dict[str, list[int]] = {}
    for j, text in enumerate(right_texts):
        free_by_text.setdefault(text, []).append(j)
    for i, text in enumerate(left_texts):
        candidates = free_by_text.get(text)
        if candidates:
            j = next((j for j in candidates if right[j].key == left[i].key), candidates[0])
            candidates.remove(j)
            pairs[i] = j

    free_left = [i for i in range(len(left)) if i not in pairs]
    paired_right = set(pairs.values())
    free_right = [j for j in range(len(right)) if j not in paired_right]
    similarities: dict[tuple[int, int], float] = {}
    if not free_left or not free_right:
        return pairs, similarities
    sim = _embed(encode, [left_texts[i] for i in free_left]) @ _embed(encode, [right_texts[j] for j in free_right]).T

    # 2. The same clause number, unless meaning clearly points elsewhere (renumbered clauses).
    open_rows = np.ones(len(free_left), dtype=bool)
    open_cols = np.ones(len(free_right), dtype=bool)
    candidates_by_key = [
        (float(sim[a, b]), a, b)
        for a, i in enumerate(free_left)
        for b, j in enumerate(free_right)
        if left[i].key
        and left[i].key == right[j].key
        and (sim[a, b] >= KEY_THRESHOLD or _same_heading(left[i], right[j]))
    ]
    for score, a, b in sorted(candidates_by_key, key=lambda c: -c[0]):
        if not (open_rows[a] and open_cols[b]):
            continue
        other_cols = open_cols.copy()
        other_cols[b] = False
        other_rows = open_rows.copy()
        other_rows[a] = False
        others = np.concatenate([sim[a, other_cols], sim[other_rows, b]])
        better = float(others.max()) if others.size else -1.0
        if better >= THRESHOLD and better > score + KEY_MARGIN:
            continue
        pairs[free_left[a]] = free_right[b]
        similarities[free_left[a], free_right[b]] = score
        open_rows[a] = open_cols[b] = False

    # 3. Meaning: a maximum-weight matching above THRESHOLD, with a small bonus for keeping the reading order.
    rows = np.flatnonzero(open_rows)
    cols = np.flatnonzero(open_cols)
    if rows.size and cols.size:
        scores = sim[np.ix_(rows, cols)]
        consistent = _order_consistent(pairs, len(left), len(right))
        bonus = consistent[np.ix_([free_left[a] for a in rows], [free_right[b] for b in cols])] * ORDER_BONUS
        weights = np.where(scores >= THRESHOLD, scores + bonus, 0.0)
        for r, c in _assign(weights):
            i, j = free_left[int(rows[r])], free_right[int(cols[c])]
            pairs[i] = j
            similarities[i, j] = float(scores[r, c])
    return pairs, similarities


def align(left: Sequence[Unit], right: Sequence[Unit], encode: Callable[[list[str]], np.ndarray]) -> list[Row]:
    """Pair the units of two documents and say, for each, whether it is unchanged, changed, added or removed.

    ``encode`` returns L2-normalised embeddings, one row per text; it is called at most once per side, and only
    for units whose text was not found verbatim on the other side. Rows follow the right document's reading
    order; a removed unit comes right after the row of the left unit that preceded it, so a side-by-side view
    reads naturally.
    """
    pairs, similarities = _pair(left, right, encode)
    renumbered = {left[i].key: right[j].key for i, j in pairs.items() if left[i].key and right[j].key}

    by_right: dict[int, Row] = {}
    for i, j in pairs.items():
        a, b = _normalise(left[i].text), _normalise(right[j].text)
        if a == b:
            by_right[j] = Row("unchanged", left[i], right[j], 1.0, [], False)
        else:
            score = min(max(similarities.get((i, j), 0.0), -1.0), 1.0)
            by_right[j] = Row("changed", left[i], right[j], score, _diff(a, b), _is_material(a, b, renumbered))

    # Removed units hang after the row of their left predecessor (-1: before everything).
    after: dict[int, list[Row]] = {}
    anchor = -1
    for i, unit in enumerate(left):
        if i in pairs:
            anchor = pairs[i]
        else:
            after.setdefault(anchor, []).append(Row("removed", unit, None, 0.0, [], True))

    rows = list(after.get(-1, []))
    for j, unit in enumerate(right):
        rows.append(by_right.get(j) or Row("added", None, unit, 0.0, [], True))
        rows.extend(after.get(j, []))
    return rows


# --- Summary lines -----------------------------------------------------------------------------------------------


def material_changes(rows: Sequence[Row]) -> list[Row]:
    """The rows an extractive change summary must mention, in order: additions, removals, material changes."""
    return [row for row in rows if row.kind in ("added", "removed") or (row.kind == "changed" and row.material)]


def _cut(text: str, limit: int = QUOTE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _key_label(key: str) -> str:
    if key and key[0].isdigit():
        return f"§{key}"
    return key[:1].upper() + key[1:]


def _label(unit: Unit, formerly: str = "") -> str:
    """The clause as a reader cites it: '§9.2 Limitation of Liability', '§11 (formerly §12) Governing Law'."""
    key = _key_label(unit.key)
    if formerly and formerly != unit.key:
        key = f"{key} (formerly {_key_label(formerly)})".strip()
    return " ".join(part for part in (key, unit.heading.strip()) if part) or "paragraph"


def _page(page: int | None) -> str:
    return f"page {page}" if page is not None else "page ?"


def _body(unit: Unit) -> str:
    """The unit's text without its title (the title is already in the label)."""
    text, heading = unit.text, unit.heading.strip()
    if heading and text.startswith(heading) and len(text) > len(heading):
        text = text[len(heading) :].lstrip(" .:-–—")
    return text


def _describe_change(change: Change) -> str:
    if change.op == "insert":
        return f'inserted "{_cut(change.right)}"'
    if change.op == "delete":
        return f'deleted "{_cut(change.left)}"'
    return f'"{_cut(change.left)}" → "{_cut(change.right)}"'


def describe(row: Row) -> str:
    """One plain-English line for the extractive change summary, quoting what changed (cut to QUOTE_CHARS)."""
    if row.kind == "added" and row.right is not None:
        return f'Added {_label(row.right)} ({_page(row.right.page)}): "{_cut(_body(row.right))}"'
    if row.kind == "removed" and row.left is not None:
        return f'Removed {_label(row.left)} ({_page(row.left.page)}): "{_cut(_body(row.left))}"'
    if row.left is None or row.right is None:
        raise ValueError(f"a {row.kind} row needs both sides")
    label = _label(row.right, formerly=row.left.key)
    pages = f"({_page(row.left.page)} → {_page(row.right.page)})"
    if row.kind == "unchanged":
        return f"Unchanged {label} {pages}"
    edits = [c for c in row.changes if c.op != "equal"]
    text = "; ".join(_describe_change(c) for c in edits[:MAX_DESCRIBED_CHANGES])
    if len(edits) > MAX_DESCRIBED_CHANGES:
        text += f"; and {len(edits) - MAX_DESCRIBED_CHANGES} more"
    return f"Changed {label} {pages}: {text or 'letter case only'}"
