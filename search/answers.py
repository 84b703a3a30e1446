"""Cited answers to questions, in conversations, from the LLM (`openai` backend) or from quoted
passages (`extractive` backend, when no LLM is configured).

Both refuse to guess: when no retrieved passage is close enough to the question, the answer
says the documents do not contain one and shows the closest passages instead. Every answer is a
row (`Answer`) created `pending` when asked and finished by `answer_events`, which streams it:
the row records the question as searched, the chunks retrieved, the chunks sent to the model,
the model and prompt version, and ends `done` or `failed` with a readable reason — never stuck.

Follow-up questions: the earlier turns of the conversation go into the prompt, and the search
runs on the question made standalone (rewritten by the LLM, or joined to the previous question
when no LLM is configured).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.utils import timezone

from audit.services import Action, audit_record, text_sha256
from backends import prompts
from backends.embedder import get_embedder, get_tokenizer
from backends.llm import LLMUnavailable, OpenAICompatibleLLM, get_llm
from docanalyst.dependencies import reason, unavailable
from ingest.models import Document
from ingest.selectors import User
from search import evidence
from search.citations import CITATION
from search.extractive import best_quote
from search.models import Answer, Conversation
from search.retrieval import SearchFilters, SearchHit, chunks_search
from search.selectors import answers_checked

logger = logging.getLogger(__name__)

NO_ANSWER_TEXT = "The documents do not contain an answer to this question."
NO_MODEL_NOTICE = "No generative model is configured, so this answer quotes the passages that best match your question:"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
HISTORY_TURNS = 3
# Chunk token counts come from the embedder's tokenizer; an LLM tokenizer may count up to ~1.5x.
TOKEN_SAFETY = 1.5


@dataclass(frozen=True)
class Citation:
    n: int
    document_id: int
    title: str
    page: int | None
    quote: str
    chunk_id: int


def _citation(n: int, hit: SearchHit, quote: str) -> Citation:
    return Citation(
        n=n, document_id=hit.document.pk, title=hit.document.title, page=hit.page, quote=quote, chunk_id=hit.chunk.pk
    )


def _prompt_passages(hits: Sequence[SearchHit]) -> list[prompts.PromptPassage]:
    return [
        prompts.PromptPassage(n=i + 1, title=h.document.title, page=h.page, text=h.chunk.text)
        for i, h in enumerate(hits)
    ]


def _tokens(text: str) -> int:
    return int(get_tokenizer().count(text) * TOKEN_SAFETY)


def fit_to_context(hits: Sequence[SearchHit], question: str, history: Sequence[prompts.Turn] = ()) -> list[SearchHit]:
    """The best passages that fit the model's window beside the instructions, the conversation,
    the question and the answer's token budget (token-counted, with a margin for the LLM's own
    tokenizer). Passages are taken in rank order; the first that does not fit ends the list."""
    fixed = prompts.answer_messages(question, [], history)
    budget = settings.LLM_CONTEXT_TOKENS - settings.LLM_MAX_ANSWER_TOKENS
    budget -= sum(_tokens(m.content) + 8 for m in fixed)
    kept: list[SearchHit] = []
    for hit, passage in zip(hits, _prompt_passages(hits), strict=True):
        cost = _tokens(prompts.documents_block([passage])) + 8
        if cost > budget:
            break
        kept.append(hit)
        budget -= cost
    return kept


def _cited(text: str, hits: Sequence[SearchHit]) -> list[Citation]:
    numbers = sorted({int(n) for n in CITATION.findall(text) if 1 <= int(n) <= len(hits)})
    return [_citation(n, hits[n - 1], hits[n - 1].chunk.text[:400]) for n in numbers]


def _closest(hits: Sequence[SearchHit]) -> list[dict[str, Any]]:
    return [asdict(_citation(i + 1, hit, hit.chunk.text[:400])) for i, hit in enumerate(hits[:3])]


# --- conversations --------------------------------------------------------------------------------


def conversation_history(conversation: Conversation | None, before: Answer | None = None) -> list[prompts.Turn]:
    if conversation is None:
        return []
    turns = conversation.answers.filter(status=Answer.Status.DONE)
    if before is not None:
        turns = turns.filter(pk__lt=before.pk)
    recent = list(turns.order_by("-pk")[:HISTORY_TURNS])
    return [prompts.Turn(question=a.question, answer=a.text) for a in reversed(recent)]


def _standalone_question(question: str, history: Sequence[prompts.Turn], llm: OpenAICompatibleLLM | None) -> str:
    """The question to search with: a follow-up needs the context it leans on."""
    if not history:
        return question
    if llm is not None:
        try:
            rewritten = llm.complete(prompts.condense_messages(history, question), 96).strip()
        except LLMUnavailable:
            rewritten = ""
        if rewritten and len(rewritten) < 1000:
            return rewritten.splitlines()[0]
    return f"{history[-1].question} {question}"


# --- answering ------------------------------------------------------------------------------------


def filters_to_json(filters: SearchFilters) -> dict[str, Any]:
    data = dataclasses.asdict(filters)
    for key in ("uploaded_from", "uploaded_to"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return {key: (list(value) if isinstance(value, tuple) else value) for key, value in data.items() if value}


def filters_from_json(data: dict[str, Any]) -> SearchFilters:

    values = dict(data)
    for key in ("uploaded_from", "uploaded_to"):
        if values.get(key):
            values[key] = datetime.date.fromisoformat(values[key])
    known = {f.name for f in dataclasses.fields(SearchFilters)}
    return SearchFilters(**{key: value for key, value in values.items() if key in known})


def answer_create(
    *,
    user: User,
    question: str,
    conversation: Conversation | None = None,
    filters: SearchFilters | None = None,
) -> Answer:
    """A pending answer in the user's conversation (a new conversation when none is given)."""
    if not isinstance(user, AuthUser) or not user.is_active:
        raise PermissionError("Sign in to ask questions.")
    question = question.strip()
    if not question:
        raise ValueError("Type a question first.")
    with transaction.atomic():
        if conversation is None:
            conversation = Conversation.objects.create(
                owner=user, title=question[:200], filters=filters_to_json(filters or SearchFilters())
            )
        elif conversation.owner_id != user.pk:
            raise PermissionError("Conversations are private to their owner.")
        else:
            Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
        effective = filters if filters is not None else filters_from_json(conversation.filters)
        return Answer.objects.create(
            user=user,
            conversation=conversation,
            question=question,
            filters=filters_to_json(effective),
            status=Answer.Status.PENDING,
        )


def _finish(answer: Answer, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(answer, name, value)
    answer.save()


def _done_event(answer: Answer) -> dict[str, Any]:
    return {
        "type": "done",
        "answer_id": answer.pk,
        "conversation_id": answer.conversation_id,
        "answer": answer.text,
        "supported": answer.supported,
        "backend": answer.backend,
        "model": answer.model_name,
        "citations": answer.citations,
        "closest": answer.closest,
    }


def answer_events(answer: Answer, request: Any = None) -> Iterator[dict[str, Any]]:
    """Produce the answer, as events: `delta` events with text as it is generated, then one `done`
    event (the answer, its citations, or the closest passages) or one `error` event. Safe to call
    twice: only the call that claims the pending row generates; others replay the outcome."""
    claimed = Answer.objects.filter(pk=answer.pk, status=Answer.Status.PENDING).update(
        status=Answer.Status.STREAMING, updated_at=timezone.now()
    )
    answer.refresh_from_db()
    if not claimed:
        if answer.status == Answer.Status.DONE:
            (answer,) = answers_checked(answer.user, [answer])  # access may have changed since
            yield {"type": "delta", "text": answer.text}
            yield _done_event(answer)
        elif answer.status == Answer.Status.FAILED:
            yield {"type": "error", "message": answer.error}
        else:
            yield {"type": "error", "message": "This answer is already being written in another window."}
        return
    try:
        yield from _generate(answer)
    except LLMUnavailable as exc:
        _finish(answer, status=Answer.Status.FAILED, error=str(exc))
        yield {"type": "error", "message": str(exc)}
    except Exception as exc:  # recorded on the row, never left `streaming`
        dependency = unavailable(exc)
        if dependency is not None:
            logger.warning("answer %s: %s unavailable: %s", answer.pk, dependency, exc)
            message = reason(dependency)
        else:
            logger.exception("answer %s failed", answer.pk)
            message = f"The answer could not be produced ({type(exc).__name__}). Search still works; try again."
        _finish(answer, status=Answer.Status.FAILED, error=message)
        yield {"type": "error", "message": message}
    except GeneratorExit:  # the reader went away mid-stream (a finished answer stays finished)
        Answer.objects.filter(pk=answer.pk, status=Answer.Status.STREAMING).update(
            status=Answer.Status.FAILED, error="The answer was interrupted before it finished."
        )
        raise
    finally:
        _audit(answer, request)


def _audit(answer: Answer, request: Any) -> None:
    """The question in the audit trail: what was asked, retrieved, sent, to which model, and the
    answer's hash (its text stays on the answer row)."""

    answer.refresh_from_db()
    audit_record(
        action=Action.QUESTION,
        request=request,
        actor=answer.user,
        target_type="answer",
        target_id=answer.pk,
        details={
            "question": answer.question,
            "conversation_id": answer.conversation_id,
            "status": answer.status,
            "retrieved_chunk_ids": answer.chunks_retrieved,
            "sent_chunk_ids": answer.chunks_sent,
            "backend": answer.backend,
            "model": answer.model_name,
            "prompt_version": answer.prompt_version,
            "answer_sha256": text_sha256(answer.text),
        },
    )


def _generate(answer: Answer) -> Iterator[dict[str, Any]]:
    llm = get_llm()
    history = conversation_history(answer.conversation, before=answer)
    search_query = _standalone_question(answer.question, history, llm)
    hits = chunks_search(
        user=answer.user, query=search_query, filters=filters_from_json(answer.filters), k=settings.ANSWER_PASSAGES
    )
    supporting = [h for h in hits if h.support is not None and h.support >= settings.ANSWER_MIN_SUPPORT]
    answer.retrieval_query = search_query
    answer.chunks_retrieved = [h.chunk.vector_id for h in hits]

    if not supporting:
        _finish(
            answer,
            status=Answer.Status.DONE,
            text=NO_ANSWER_TEXT,
            supported=False,
            closest=_closest(hits),
            chunks_sent=[],
            backend="openai" if llm else "extractive",
            model_name=llm.model if llm else "",
        )
        yield {"type": "delta", "text": answer.text}
        yield _done_event(answer)
        return

    if llm is None:  # the passages were found with the context; the sentence answers this question
        yield from _extractive(answer, answer.question, supporting)
        return

    sent = fit_to_context(supporting, answer.question, history)
    if not sent:
        raise LLMUnavailable("The passages do not fit the model's context window (LLM_CONTEXT_TOKENS is too small).")
    answer.chunks_sent = [h.chunk.vector_id for h in sent]
    answer.backend, answer.model_name, answer.prompt_version = "openai", llm.model, prompts.ANSWER_PROMPT_VERSION
    parts: list[str] = []
    for delta in llm.stream(
        prompts.answer_messages(answer.question, _prompt_passages(sent), history), settings.LLM_MAX_ANSWER_TOKENS
    ):
        parts.append(delta)
        yield {"type": "delta", "text": delta}
    text = "".join(parts).strip()
    declined = not text or text.startswith(prompts.NO_ANSWER_MARKER)
    withheld = "" if declined else unverified_because(text, sent)
    supported = not declined and not withheld
    _finish(
        answer,
        status=Answer.Status.DONE,
        text=text
        if supported
        else NO_ANSWER_TEXT + (f" (A drafted answer was withheld: {withheld}.)" if withheld else ""),
        supported=supported,
        citations=[asdict(c) for c in _cited(text, sent)] if supported else [],
        closest=[] if supported else _closest(hits),
    )
    yield _done_event(answer)


def unverified_because(text: str, sent: Sequence[SearchHit]) -> str:
    """Why a model's answer cannot be shown as grounded ("" when it can): it must cite at least one
    passage it was given, and every number it states must be in a passage it cites (numbers are
    what a model most often gets wrong or invents)."""
    cited = sorted({int(n) for n in CITATION.findall(text) if 1 <= int(n) <= len(sent)})
    if not cited:
        return "it cites none of the passages"
    sources = " ".join(sent[n - 1].chunk.text for n in cited)
    source_numbers = {n.replace(",", "") for n in _NUMBER.findall(sources)}
    stated = _NUMBER.findall(CITATION.sub(" ", text))
    missing = [n for n in stated if n.replace(",", "") not in source_numbers]
    if missing:
        return f"it states {missing[0]}, which no passage it cites contains"
    return ""


def _extractive(answer: Answer, question: str, supporting: list[SearchHit]) -> Iterator[dict[str, Any]]:
    """Quote, from each of the best three supporting pages, the sentences that answer the question
    best (up to four in a row: the answer often follows the sentence that repeats the question),
    verbatim from one passage of that page."""
    query_vector = get_embedder().encode([question])[0]
    top = supporting[:3]
    scope = Document.objects.filter(pk__in={hit.document.pk for hit in top})
    texts = evidence.passages_of_pages([hit.chunk.page_id for hit in top if hit.chunk.page_id], scope)
    citations: list[Citation] = []
    for hit in top:
        passages = texts.get(hit.chunk.page_id or -1) or [
            evidence.PassageText(hit.chunk.pk, hit.chunk.document_id, hit.chunk.ordinal, hit.chunk.text)
        ]
        share = functools.partial(evidence.text_coverage, terms=hit.terms)
        quote = best_quote(query_vector, [p.text for p in passages], share)
        if quote is None:
            continue
        n = len(citations) + 1
        citations.append(
            Citation(
                n=n,
                document_id=hit.document.pk,
                title=hit.document.title,
                page=hit.page,
                quote=quote.text,
                chunk_id=passages[quote.passage].id,
            )
        )
    yield {"type": "delta", "text": NO_MODEL_NOTICE + "\n\n"}
    quoted = []
    for citation in citations:
        piece = f"“{citation.quote}” [{citation.n}]"
        quoted.append(piece)
        yield {"type": "delta", "text": piece + "\n\n"}
    _finish(
        answer,
        status=Answer.Status.DONE,
        text=f"{NO_MODEL_NOTICE}\n\n" + "\n\n".join(quoted),
        supported=True,
        citations=[asdict(c) for c in citations],
        chunks_sent=[h.chunk.vector_id for h in top],
        backend="extractive",
    )
    yield _done_event(answer)
