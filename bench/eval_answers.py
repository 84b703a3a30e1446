"""The answer half of `bench/eval_retrieval.py`: questions asked through the app's own
`answer_create` + `answer_events` (the code path of `POST /api/v1/ask`), scored.

- Answerable: each set's questions asked of its own collection. *Declined* is the share the app
  answered "the documents do not contain an answer" for.
- Unanswerable: each set's questions asked of every other set's collection only (a 10-Q question
  of a collection of product manuals). *Refused* is the share it declined.
- Citations: *gold page cited* — the first citation (and any citation) is on a page the question
  was written from; *answer text present* — the reference answer (lower-case words), where it is
  short and not yes/no, appears in the first quote (and in any quote).
- Every quote of every answer is checked to be verbatim on the page it cites (the text of the
  cited passage's page, as the app stores it).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eval_sets import Judged

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from search.models import Answer

_WORD = re.compile(r"[a-z0-9]+")
SHORT_ANSWER_WORDS = 12


def words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@dataclass
class AskResult:
    asked: int = 0
    declined: int = 0
    seconds: float = 0.0
    gold_first: int = 0
    gold_any: int = 0
    with_pages: int = 0
    text_first: int = 0
    text_any: int = 0
    with_short_answer: int = 0
    quotes: int = 0
    supports: list[float] = field(default_factory=list)  # each question's best page support
    not_verbatim: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def rate(self, part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "asked": self.asked,
            "declined": self.declined,
            "declined_rate": self.rate(self.declined, self.asked),
            "answered_rate": self.rate(self.asked - self.declined, self.asked),
            "gold_page_cited_first": self.rate(self.gold_first, self.with_pages),
            "gold_page_cited_any": self.rate(self.gold_any, self.with_pages),
            "questions_with_pages": self.with_pages,
            "answer_text_in_first_quote": self.rate(self.text_first, self.with_short_answer),
            "answer_text_in_any_quote": self.rate(self.text_any, self.with_short_answer),
            "questions_with_short_answers": self.with_short_answer,
            "quotes_checked": self.quotes,
            "quotes_not_verbatim": len(self.not_verbatim),
            "failed": len(self.failed),
            "seconds_per_question": self.seconds / max(self.asked, 1),
        }


def page_texts(answer: Answer) -> dict[int, str]:
    """The stored page text of each cited passage."""
    from ingest.models import Chunk

    ids = [c["chunk_id"] for c in answer.citations]
    rows = Chunk.objects.filter(pk__in=ids).select_related("page")
    return {chunk.pk: (chunk.page.text if chunk.page is not None else chunk.text) for chunk in rows}


def score_answer(result: AskResult, item: Judged, answer: Answer, scored: bool) -> None:
    """Count the answer into `result`; `scored`: the question is answerable here (citations and
    answer text are scored against its judgements)."""
    result.asked += 1
    if not answer.supported:
        result.declined += 1
    texts = page_texts(answer) if answer.citations else {}
    for citation in answer.citations:
        result.quotes += 1
        if citation["quote"] not in texts.get(citation["chunk_id"], ""):
            result.not_verbatim.append(f"{item.question.text[:60]!r}: {citation['quote'][:80]!r}")
    if not scored:
        return
    cited = [(c["document_id"], c["page"]) for c in answer.citations]
    if item.pages:
        result.with_pages += 1
        result.gold_first += bool(cited) and cited[0] in item.pages
        result.gold_any += any(c in item.pages for c in cited)
    reference = words(item.question.answer)
    if reference and reference not in ("yes", "no") and len(reference.split()) <= SHORT_ANSWER_WORDS:
        result.with_short_answer += 1
        quotes = [words(c["quote"]) for c in answer.citations]
        result.text_first += bool(quotes) and reference in quotes[0]
        result.text_any += any(reference in q for q in quotes)


def ask_all(label: str, items: Sequence[Judged], user: User, collection_ids: Sequence[int], scored: bool) -> AskResult:
    """Each question asked once, in a conversation of its own, of `collection_ids` only."""
    from django.conf import settings
    from tqdm import tqdm

    from backends.llm import LLMUnavailable
    from search.retrieval import chunks_search
    from tests.search.asking import answer_question  # answer_create + answer_events, as POST /api/v1/ask

    result = AskResult()
    for item in tqdm(items, desc=label, unit="q", file=sys.stderr):
        started = time.perf_counter()
        try:
            answer = answer_question(user=user, question=item.question.text, collection_ids=list(collection_ids))
        except LLMUnavailable as exc:
            result.failed.append(f"{item.question.text[:60]!r}: {exc}")
            continue
        finally:
            result.seconds += time.perf_counter() - started
        score_answer(result, item, answer, scored)
        hits = chunks_search(
            user=user, query=item.question.text, k=settings.ANSWER_PASSAGES, collection_ids=list(collection_ids)
        )
        result.supports.append(max((h.support or 0.0 for h in hits), default=0.0))
    return result


THRESHOLDS = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0)


def declined_at(supports: Sequence[float], threshold: float) -> float:
    """The share of questions whose best page falls short of `threshold` (what the gate declines)."""
    return sum(1 for s in supports if s < threshold) / len(supports) if supports else 0.0


def threshold_lines(asks: dict[tuple[str, str], AskResult]) -> list[str]:
    """The gate at other thresholds, from the recorded supports: how much margin the default has,
    and a threshold chosen on one set (the one that declines 5 % of its answerable questions)
    applied to the others."""
    lines = ["  threshold  " + "  ".join(f"{f'{a}->{t}':>24}" for a, t in asks)]
    for threshold in THRESHOLDS:
        cells = []
        for (asked, target), result in asks.items():
            rate = declined_at(result.supports, threshold)
            cells.append(f"{('declined ' if asked == target else 'refused ') + f'{rate:.3f}':>24}")
        lines.append(f"  {threshold:>9.2f}  " + "  ".join(cells))
    for (asked, target), result in asks.items():
        if asked != target or not result.supports:
            continue
        chosen = sorted(result.supports)[int(0.05 * len(result.supports))]
        effect = ", ".join(
            f"{a}->{t} {'declined' if a == t else 'refused'} {declined_at(r.supports, chosen):.3f}"
            for (a, t), r in asks.items()
        )
        lines.append(f"  chosen on {asked} alone (5 % declined there): {chosen:.3f} -> {effect}")
    return lines


def ask_line(name: str, result: AskResult, answerable: bool) -> str:
    s = result.summary()
    if not answerable:
        return (
            f"{name}: refused {s['declined']}/{s['asked']} = {s['declined_rate']:.3f}; "
            f"quotes not verbatim {s['quotes_not_verbatim']}/{s['quotes_checked']}; "
            f"{s['seconds_per_question'] * 1000:.0f} ms/question"
        )
    parts = [f"{name}: declined {s['declined']}/{s['asked']} = {s['declined_rate']:.3f}"]
    if s["questions_with_pages"]:
        parts.append(
            f"gold page cited first {s['gold_page_cited_first']:.3f}, any {s['gold_page_cited_any']:.3f} "
            f"(over {s['questions_with_pages']})"
        )
    if s["questions_with_short_answers"]:
        parts.append(
            f"answer text in first quote {s['answer_text_in_first_quote']:.3f}, any "
            f"{s['answer_text_in_any_quote']:.3f} (over {s['questions_with_short_answers']} short answers)"
        )
    parts.append(f"quotes not verbatim {s['quotes_not_verbatim']}/{s['quotes_checked']}")
    parts.append(f"{s['seconds_per_question'] * 1000:.0f} ms/question")
    return "; ".join(parts)
