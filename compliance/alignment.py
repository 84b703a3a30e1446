"""Clause-by-clause comparison of two documents (two contracts, two revisions of a specification).

Both documents are cut into units (a clause, or a paragraph that belongs to no numbered clause), the units are
paired across the two sides - identical text first, then the same clause number, then meaning (embeddings) - and
every pair or leftover becomes one row of a side-by-side view: unchanged, changed (with a word-level diff), added or
removed. ``material`` marks what a reviewer must not miss: a changed number, amount, date, duration or obligation
word, or a whole clause added or removed; rewording and renumbering alone are not material.

The embedder is passed in (``encode``) so that this module loads no ML library and tests can use the real one.

Cutting a document into units is in ``compliance.clauses``, the word diff and what counts as material in
``compliance.changes``; their public names are importable from here too.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from compliance.changes import MERGE_GAP, Change, diff, is_material
from compliance.clauses import SourceChunk, Unit, normalise, units_of

__all__ = [
    "KEY_MARGIN",
    "KEY_THRESHOLD",
    "MAX_DESCRIBED_CHANGES",
    "MERGE_GAP",
    "ORDER_BONUS",
    "QUOTE_CHARS",
    "THRESHOLD",
    "Change",
    "Row",
    "SourceChunk",
    "Unit",
    "align",
    "describe",
    "material_changes",
    "units_of",
]

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
QUOTE_CHARS = 160
MAX_DESCRIBED_CHANGES = 3


@dataclass(frozen=True)
class Row:
    kind: str
    left: Unit | None
    right: Unit | None
    similarity: float
    changes: list[Change] = field(default_factory=list)
    material: bool = False


# --- Alignment ---------------------------------------------------------------------------------------------------


def _embed(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    vectors = np.asarray(encode(texts), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"encode returned shape {vectors.shape} for {len(texts)} texts")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _same_heading(a: Unit, b: Unit) -> bool:
    return bool(a.heading.strip()) and normalise(a.heading).casefold() == normalise(b.heading).casefold()


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
    left_texts = [normalise(u.text) for u in left]
    right_texts = [normalise(u.text) for u in right]
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
        a, b = normalise(left[i].text), normalise(right[j].text)
        if a == b:
            by_right[j] = Row("unchanged", left[i], right[j], 1.0, [], False)
        else:
            score = min(max(similarities.get((i, j), 0.0), -1.0), 1.0)
            by_right[j] = Row("changed", left[i], right[j], score, diff(a, b), is_material(a, b, renumbered))

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
