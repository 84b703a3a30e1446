"""Cited answers to questions, from the LLM (`openai` backend) or from quoted passages
(`extractive` backend, when no LLM is configured). Both refuse to guess: when no retrieved passage
is close enough to the question, the answer says the documents do not contain one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as AuthUser

from docanalyst import prompts
from docanalyst.backends.embedder import get_embedder
from docanalyst.backends.llm import LLMUnavailable, OpenAICompatibleLLM, get_llm
from docanalyst.models import Answer
from docanalyst.services.extractive import best_sentence_per_text
from docanalyst.services.search import SearchHit, chunks_search
from ingest.selectors import User

NO_ANSWER_TEXT = "The documents do not contain an answer to this question."
NO_MODEL_NOTICE = "No generative model is configured, so this answer quotes the passages that best match your question:"
_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class Citation:
    n: int
    document_id: int
    title: str
    page: int | None
    quote: str
    chunk_id: int


@dataclass
class AnswerResult:
    answer: str
    citations: list[Citation]
    supported: bool
    backend: str
    model: str = ""
    prompt_version: str = ""
    passages: list[SearchHit] = field(default_factory=list)  # what was retrieved, shown beside the answer
    record_id: int | None = None

    def citations_as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.citations]


def _citation(n: int, hit: SearchHit, quote: str) -> Citation:
    return Citation(
        n=n, document_id=hit.document.pk, title=hit.document.title, page=hit.page, quote=quote, chunk_id=hit.chunk.pk
    )


def _prompt_passages(hits: Sequence[SearchHit]) -> list[prompts.PromptPassage]:
    return [
        prompts.PromptPassage(n=i + 1, title=h.document.title, page=h.page, text=h.chunk.text)
        for i, h in enumerate(hits)
    ]


def _fit_to_context(hits: list[SearchHit], question: str) -> list[SearchHit]:
    """Keep the best passages that fit the model's window, with room for the instructions and answer."""
    budget = settings.LLM_CONTEXT_TOKENS - settings.LLM_MAX_ANSWER_TOKENS - 200
    budget -= len(question) // 3
    kept: list[SearchHit] = []
    for hit in hits:
        # Chunk token counts come from the embedder's tokenizer; 1.5x covers a different LLM tokenizer.
        cost = int((hit.chunk.token_count or len(hit.chunk.text) // 3) * 1.5) + 20
        if cost > budget:
            break
        kept.append(hit)
        budget -= cost
    return kept


def _cited(text: str, hits: Sequence[SearchHit]) -> list[Citation]:
    numbers = sorted({int(n) for n in _CITATION.findall(text) if 1 <= int(n) <= len(hits)})
    if not numbers:  # an answer is never shown without its sources
        numbers = list(range(1, len(hits) + 1))
    return [_citation(n, hits[n - 1], hits[n - 1].chunk.text[:400]) for n in numbers]


def _retrieve(user: User, question: str, collection_ids: list[int] | None) -> tuple[list[SearchHit], list[SearchHit]]:
    hits = chunks_search(user=user, query=question, collection_ids=collection_ids, k=settings.ANSWER_PASSAGES)
    supporting = [h for h in hits if h.score >= settings.ANSWER_MIN_SCORE]
    return hits, supporting


def _extractive(question: str, hits: list[SearchHit], supporting: list[SearchHit]) -> AnswerResult:
    if not supporting:
        return AnswerResult(NO_ANSWER_TEXT, [], supported=False, backend="extractive", passages=hits)
    query_vector = get_embedder().encode([question])[0]
    top = supporting[:3]
    sentences = best_sentence_per_text(query_vector, [h.chunk.text for h in top])
    citations = [
        _citation(i + 1, hit, sentence) for i, (hit, (sentence, _)) in enumerate(zip(top, sentences, strict=True))
    ]
    quoted = "\n\n".join(f"“{c.quote}” [{c.n}]" for c in citations)
    return AnswerResult(
        f"{NO_MODEL_NOTICE}\n\n{quoted}", citations, supported=True, backend="extractive", passages=hits
    )


def _record(user: User, question: str, result: AnswerResult, sent: Sequence[SearchHit]) -> AnswerResult:
    if isinstance(user, AuthUser):
        record = Answer.objects.create(
            user=user,
            question=question,
            text=result.answer,
            supported=result.supported,
            citations=result.citations_as_dicts(),
            chunks_sent=[h.chunk.vector_id for h in sent],
            backend=result.backend,
            model_name=result.model,
            prompt_version=result.prompt_version,
        )
        result.record_id = record.pk
    return result


def _answer_without_generation(
    user: User, question: str, hits: list[SearchHit], supporting: list[SearchHit], llm: OpenAICompatibleLLM | None
) -> AnswerResult:
    """The answer when the model is not asked: no model configured, or no passage to support one."""
    if llm is None:
        return _record(user, question, _extractive(question, hits, supporting), supporting[:3])
    result = AnswerResult(NO_ANSWER_TEXT, [], supported=False, backend="openai", model=llm.model, passages=hits)
    return _record(user, question, result, [])


def answer_question(*, user: User, question: str, collection_ids: list[int] | None = None) -> AnswerResult:
    """Raises `LLMUnavailable` when the configured model fails; callers show its message."""
    question = question.strip()
    hits, supporting = _retrieve(user, question, collection_ids)
    llm = get_llm()
    if llm is None or not supporting:
        return _answer_without_generation(user, question, hits, supporting, llm)
    sent = _fit_to_context(supporting, question)
    messages = prompts.answer_messages(question, _prompt_passages(sent))
    text = llm.complete(messages, settings.LLM_MAX_ANSWER_TOKENS).strip()
    return _record(user, question, _llm_result(text, sent, hits, llm.model), sent)


def _llm_result(text: str, sent: list[SearchHit], hits: list[SearchHit], model: str) -> AnswerResult:
    supported = bool(text) and not text.startswith(prompts.NO_ANSWER_MARKER)
    return AnswerResult(
        text if supported else NO_ANSWER_TEXT,
        _cited(text, sent) if supported else [],
        supported=supported,
        backend="openai",
        model=model,
        prompt_version=prompts.ANSWER_PROMPT_VERSION,
        passages=hits,
    )


def answer_question_stream(
    *, user: User, question: str, collection_ids: list[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Events for a streamed answer: `delta` events with text, then one `done` event with the
    final answer and its citations, or one `error` event when the model fails."""
    question = question.strip()
    hits, supporting = _retrieve(user, question, collection_ids)
    llm = get_llm()
    if llm is None or not supporting:
        settled = _answer_without_generation(user, question, hits, supporting, llm)
        yield {"type": "delta", "text": settled.answer}
        yield _done_event(settled)
        return
    sent = _fit_to_context(supporting, question)
    parts: list[str] = []
    try:
        for delta in llm.stream(
            prompts.answer_messages(question, _prompt_passages(sent)), settings.LLM_MAX_ANSWER_TOKENS
        ):
            parts.append(delta)
            yield {"type": "delta", "text": delta}
    except LLMUnavailable as exc:
        yield {"type": "error", "message": str(exc)}
        return
    result = _record(user, question, _llm_result("".join(parts).strip(), sent, hits, llm.model), sent)
    yield _done_event(result)


def _done_event(result: AnswerResult) -> dict[str, Any]:
    return {
        "type": "done",
        "answer": result.answer,
        "supported": result.supported,
        "backend": result.backend,
        "model": result.model,
        "citations": result.citations_as_dicts(),
    }
