"""Document summaries with page citations: map-reduce over all chunks with the LLM, or an
extractive summary (central, non-repetitive sentences) when no LLM is configured.

Every chunk of the document is read; nothing is truncated silently. Citations are numbered in
the order they appear in the summary and each names its page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User as AuthUser

from docanalyst import prompts
from docanalyst.backends.llm import OpenAICompatibleLLM, get_llm
from docanalyst.backends.vectorstore import get_vector_store
from docanalyst.models import Summary
from docanalyst.services.extractive import central_indices, split_sentences
from ingest.models import Chunk, Document
from ingest.selectors import User

EXTRACTIVE_SENTENCES = 8
_CITATION = re.compile(r"\[(\d{1,5})\]")


class SummaryNotPossible(ValueError):
    pass


def _citation_dict(n: int, document: Document, chunk: Chunk, quote: str) -> dict[str, object]:
    return {
        "n": n,
        "document_id": document.pk,
        "title": document.title,
        "page": chunk.page_number,
        "quote": quote,
        "chunk_id": chunk.pk,
    }


def _chunk_vectors(document: Document, chunks: Sequence[Chunk]) -> np.ndarray:
    """The document's stored vectors, in chunk order (re-encoding would cost as much as ingest)."""
    ids = [c.vector_id for c in chunks]
    by_id = get_vector_store().embeddings(document.collection_id, ids)
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise SummaryNotPossible(f"{len(missing)} passages of this document are missing from the index; re-index it.")
    return np.asarray([by_id[i] for i in ids], dtype=np.float32)


def _extractive_summary(document: Document, chunks: list[Chunk]) -> tuple[str, list[dict[str, object]]]:
    vectors = _chunk_vectors(document, chunks)
    chosen = sorted(central_indices(vectors, EXTRACTIVE_SENTENCES))  # in reading order
    lines: list[str] = []
    citations: list[dict[str, object]] = []
    for n, index in enumerate(chosen, start=1):
        chunk = chunks[index]
        sentences = split_sentences(chunk.text) or [chunk.text[:400]]
        sentence = max(sentences[:3], key=len)  # the lead of the passage, its most informative line
        lines.append(f"- {sentence} [{n}]")
        citations.append(_citation_dict(n, document, chunk, sentence))
    text = "Key passages of this document (no generative model is configured):\n\n" + "\n".join(lines)
    return text, citations


def _windows(chunks: list[Chunk], budget_tokens: int) -> list[list[int]]:
    windows: list[list[int]] = [[]]
    used = 0
    for index, chunk in enumerate(chunks):
        cost = int((chunk.token_count or len(chunk.text) // 3) * 1.5) + 20
        if windows[-1] and used + cost > budget_tokens:
            windows.append([])
            used = 0
        windows[-1].append(index)
        used += cost
    return windows


def _llm_summary(
    llm: OpenAICompatibleLLM, document: Document, chunks: list[Chunk]
) -> tuple[str, list[dict[str, object]]]:
    budget = settings.LLM_CONTEXT_TOKENS - settings.LLM_MAX_ANSWER_TOKENS - 300
    partials: list[str] = []
    for window in _windows(chunks, budget):
        passages = [
            prompts.PromptPassage(n=i + 1, title=document.title, page=chunks[i].page_number, text=chunks[i].text)
            for i in window
        ]
        partials.append(
            llm.complete(prompts.summary_map_messages(document.title, passages), settings.LLM_MAX_ANSWER_TOKENS).strip()
        )
    combined = partials[0]
    while len(partials) > 1:  # reduce in rounds so any number of partials fits the window
        groups = [partials[i : i + 8] for i in range(0, len(partials), 8)]
        partials = [
            llm.complete(prompts.summary_reduce_messages(document.title, g), settings.LLM_MAX_ANSWER_TOKENS).strip()
            for g in groups
        ]
        combined = partials[0]

    # Renumber the chunk numbers the model cited as 1..n in order of appearance.
    order: dict[int, int] = {}
    for raw in _CITATION.findall(combined):
        index = int(raw) - 1
        if 0 <= index < len(chunks) and index not in order:
            order[index] = len(order) + 1

    def renumber(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return f"[{order[index]}]" if index in order else ""

    text = _CITATION.sub(renumber, combined)
    citations = [_citation_dict(n, document, chunks[i], chunks[i].text[:400]) for i, n in order.items()]
    return text, citations


def summary_create(*, user: User, document: Document) -> Summary:
    """Raises `LLMUnavailable` when the configured model fails, `SummaryNotPossible` when the
    document is not ready."""
    if document.status != Document.Status.READY:
        raise SummaryNotPossible(f"The document is {document.status}; it can be summarized once it is ready.")
    chunks = list(document.chunks.order_by("ordinal"))
    if not chunks:
        raise SummaryNotPossible("The document has no text to summarize.")
    llm = get_llm()
    if llm is None:
        text, citations = _extractive_summary(document, chunks)
        backend, model, version = "extractive", "", "extractive-mmr-v1"
    else:
        text, citations = _llm_summary(llm, document, chunks)
        backend, model, version = "openai", llm.model, prompts.SUMMARY_MAP_PROMPT_VERSION
    return Summary.objects.create(
        document=document,
        document_sha256=document.sha256,
        created_by=user if isinstance(user, AuthUser) else None,
        text=text,
        citations=citations,
        backend=backend,
        model_name=model,
        prompt_version=version,
    )
