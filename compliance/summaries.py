"""Summaries of whole documents, or of a selection or folder of them, made in the worker.

A document is cut into parts along its structure (sections, never more than the model can read
at once); every part is summarized (map), so every page is read and the section-by-section part of
the summary covers the document to its last section; the parts are then combined into an overview
(reduce, in rounds, so any number of parts fits the model's window). Every sentence cites the
passages it came from; a sentence the model left uncited is attributed to the closest passage of
its part. Without a language model the same structure is filled extractively: per part, the
passages that matter for the kind of summary, quoted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from backends import prompts
from backends.embedder import get_embedder
from backends.llm import OpenAICompatibleLLM, get_llm
from backends.vectorstore import get_vector_store
from compliance.models import Summary
from compliance.records import Progress, RecordNotPossible, documents_ready, record_finish, record_queue, sources_of
from ingest.models import Chunk, Document
from ingest.selectors import User
from search.citations import CITATION, MAX_QUOTE_CHARS, split_sentences
from search.extractive import central_indices

MAX_DOCUMENTS = 200
EXTRACTIVE_PARTS_PER_DOCUMENT = 40
EXTRACTIVE_OVERVIEW_SENTENCES = 8
REDUCE_GROUP = 8
_CITATION_RUN = re.compile(r"(?:\s*\[\d{1,6}\])+\s*$")
_OUTPUT_SENTENCE = re.compile(r"(?<=[.!?\]])\s+(?=[A-Z0-9\"'(])|\n+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")


def not_a_citation(text: str) -> str:
    """Document text shown beside our [n] marks: its own "[3]" becomes "(3)", never a citation link."""
    return CITATION.sub(r"(\1)", text)


def _uncited(sentence: str) -> str:
    """The sentence without its [n] markers (they are re-attached, renumbered, at its end)."""
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", CITATION.sub("", sentence)).strip(" -*\t")


# What an extractive legal or engineering summary looks for in a sentence.
KIND_PATTERNS = {
    "legal": re.compile(
        r"\b(shall|must|may not|is required to|agrees? to|undertakes?|entitled|right to|rights|within \d+|"
        r"no later than|deadline|days|months|liab\w*|indemnif\w*|penalt\w*|terminat\w*|breach|warrant\w*|"
        r"risk\w*|cap|exceed)\b",
        re.IGNORECASE,
    ),
    "engineering": re.compile(
        r"(±|\+/-|\btoleranc\w*|\bshall\b|\bmust\b|\brequire\w*|\bspecif\w*|\bmaterials?\b|\bISO\s?\d|\bASTM\b|"
        r"\bDIN\b|\bEN\s?\d|\bASME\b|\bIEC\b|\d\s?(mm|µm|um|MPa|°C|kN|Nm|bar|kg|HRC|V|A|Hz)\b)",
        re.IGNORECASE,
    ),
}


@dataclass(frozen=True)
class NumberedChunk:
    """A chunk numbered for citing, over all the summary's documents."""

    number: int  # 1-based, over all the summary's documents
    document: Document
    chunk: Chunk


@dataclass
class Part:
    heading: str
    passages: list[NumberedChunk]

    @property
    def pages(self) -> str:
        pages = [p.chunk.page_number for p in self.passages if p.chunk.page_number]
        if not pages:
            return ""
        return f"page {pages[0]}" if min(pages) == max(pages) else f"pages {min(pages)}–{max(pages)}"


# --- requests (web side) ---------------------------------------------------------------------------


def summary_request(*, user: User, documents: Sequence[Document], kind: str = Summary.Kind.EXECUTIVE) -> Summary:
    """A queued summary of `documents` (already checked readable by the caller), made by the worker."""
    if kind not in Summary.Kind.values:
        raise RecordNotPossible(f"Unknown kind of summary {kind!r}; use one of {', '.join(Summary.Kind.values)}.")
    documents = documents_ready(documents)
    if len(documents) > MAX_DOCUMENTS:
        raise RecordNotPossible(f"At most {MAX_DOCUMENTS} documents per summary; {len(documents)} were selected.")
    label = Summary.Kind(kind).label
    title = documents[0].title if len(documents) == 1 else f"{len(documents)} documents"
    summary = Summary.objects.create(
        created_by=user if user.is_authenticated else None,
        kind=kind,
        title=f"{label}: {title}"[:500],
        sources=sources_of(documents),
    )
    summary.documents.set(documents)
    record_queue(summary)
    return summary


# --- building (worker side) ------------------------------------------------------------------------


def _passages(summary: Summary) -> list[NumberedChunk]:
    order = [int(s["document_id"]) for s in summary.sources]
    documents = {d.pk: d for d in summary.documents.select_related("collection")}
    missing = [pk for pk in order if pk not in documents]
    if missing:
        raise RecordNotPossible("A document of this summary was deleted before it could be made.")
    passages: list[NumberedChunk] = []
    for pk in order:
        for chunk in documents[pk].chunks.order_by("ordinal"):
            passages.append(NumberedChunk(len(passages) + 1, documents[pk], chunk))
    if not passages:
        raise RecordNotPossible("The documents have no text to summarize.")
    return passages


def parts_of(
    passages: Sequence[NumberedChunk], budget_tokens: int, max_passages: int, multi: bool, min_tokens: int = 0
) -> list[Part]:
    """Consecutive passages of one document, cut at section changes (once the part holds
    `min_tokens`) and whenever the model's budget or `max_passages` would be exceeded."""
    parts: list[Part] = []
    current: list[NumberedChunk] = []
    used = 0

    def flush() -> None:
        nonlocal current, used
        if not current:
            return
        first, last = current[0], current[-1]
        section = first.chunk.section or (Part("", current).pages.capitalize() or "Text")
        if first.chunk.section and last.chunk.section and last.chunk.section != first.chunk.section:
            section = f"{first.chunk.section} … {last.chunk.section}"  # short sections read together
        heading = f"{first.document.title} — {section}" if multi else section
        parts.append(Part(heading[:300], current))
        current, used = [], 0

    for passage in passages:
        cost = prompts.passage_tokens(passage.chunk.token_count, passage.chunk.text)
        if current:
            previous = current[-1]
            new_document = passage.document.pk != previous.document.pk
            new_section = bool(passage.chunk.section) and passage.chunk.section != previous.chunk.section
            if (
                new_document
                or used + cost > budget_tokens
                or len(current) >= max_passages
                or (new_section and used >= min_tokens)
            ):
                flush()
        current.append(passage)
        used += cost
    flush()
    return parts


def _vectors(passages: Sequence[NumberedChunk]) -> np.ndarray:
    """The passages' stored vectors (re-encoding would cost as much as ingestion)."""
    store = get_vector_store()
    by_id: dict[str, list[float]] = {}
    for collection_id in {p.document.collection_id for p in passages}:
        ids = [p.chunk.vector_id for p in passages if p.document.collection_id == collection_id]
        by_id.update(store.embeddings(collection_id, ids))
    missing = [p.chunk.vector_id for p in passages if p.chunk.vector_id not in by_id]
    if missing:
        raise RecordNotPossible(f"{len(missing)} passages are missing from the search index; re-index the documents.")
    return np.asarray([by_id[p.chunk.vector_id] for p in passages], dtype=np.float32)


def _lead_sentence(text: str) -> str:
    sentences = split_sentences(text) or [text.strip()[:MAX_QUOTE_CHARS]]
    return max(sentences[:3], key=len)


def _kind_sentences(kind: str, passages: Sequence[NumberedChunk], limit: int) -> list[tuple[NumberedChunk, str]]:
    """The sentences with the most distinct signals of the kind (obligations, tolerances…), in reading order."""
    pattern = KIND_PATTERNS[kind]
    scored: list[tuple[int, int, NumberedChunk, str]] = []
    for order, passage in enumerate(passages):
        for sentence in split_sentences(passage.chunk.text):
            hits = len({m.group(0).lower() for m in pattern.finditer(sentence)})
            if hits:
                scored.append((hits, -order, passage, sentence))
    best = sorted(scored, key=lambda s: (s[0], s[1]), reverse=True)[:limit]
    best.sort(key=lambda s: -s[1])
    return [(passage, sentence) for _, _, passage, sentence in best]


class _Citations:
    """Numbers citations 1..n in order of first appearance and keeps what each quotes."""

    def __init__(self) -> None:
        self.by_passage: dict[int, int] = {}
        self.items: list[dict[str, object]] = []

    def cite(self, passage: NumberedChunk, quote: str = "") -> int:
        if passage.number not in self.by_passage:
            n = len(self.items) + 1
            self.by_passage[passage.number] = n
            chunk, document = passage.chunk, passage.document
            self.items.append(
                {
                    "n": n,
                    "document_id": document.pk,
                    "title": document.title,
                    "version": document.version,
                    "page": chunk.page_number,
                    "chunk_id": chunk.pk,
                    "quote": quote or " ".join(chunk.text.split())[:MAX_QUOTE_CHARS],
                }
            )
        return self.by_passage[passage.number]


def _extractive(summary: Summary, passages: list[NumberedChunk], progress: Progress) -> None:
    documents = {p.document.pk for p in passages}
    per_document = max(1, len(passages) // len(documents))
    max_passages = max(12, math.ceil(per_document / EXTRACTIVE_PARTS_PER_DOCUMENT))
    parts = parts_of(passages, budget_tokens=10**9, max_passages=max_passages, multi=len(documents) > 1)
    vectors = _vectors(passages) if summary.kind == Summary.Kind.EXECUTIVE else None
    citations = _Citations()

    def line(passage: NumberedChunk, sentence: str) -> str:
        # A "[3]" inside the document's own sentence is not one of our citations: shown as "(3)".
        return f"- {not_a_citation(sentence)} [{citations.cite(passage, sentence)}]"

    progress(0.1, "choosing the key passages")
    if summary.kind == Summary.Kind.EXECUTIVE:
        assert vectors is not None
        chosen = sorted(central_indices(vectors, EXTRACTIVE_OVERVIEW_SENTENCES))
        overview = [(passages[i], _lead_sentence(passages[i].chunk.text)) for i in chosen]
    else:
        overview = _kind_sentences(summary.kind, passages, EXTRACTIVE_OVERVIEW_SENTENCES)
    text = "\n".join(line(p, s) for p, s in overview) or "Nothing of this kind was found in the documents."

    sections: list[dict[str, object]] = []
    for index, part in enumerate(parts):
        if summary.kind == Summary.Kind.EXECUTIVE:
            assert vectors is not None
            local = vectors[[p.number - 1 for p in part.passages]]
            picks = sorted(central_indices(local, 2 if len(part.passages) > 4 else 1))
            chosen_lines = [(part.passages[i], _lead_sentence(part.passages[i].chunk.text)) for i in picks]
        else:
            chosen_lines = _kind_sentences(summary.kind, part.passages, 2)
        if chosen_lines:
            sections.append(
                {"heading": part.heading, "pages": part.pages, "text": "\n".join(line(p, s) for p, s in chosen_lines)}
            )
        progress(0.1 + 0.85 * (index + 1) / len(parts), f"part {index + 1} of {len(parts)}")
    record_finish(
        summary,
        text=text,
        sections=sections,
        citations=citations.items,
        backend="extractive",
        model_name="",
        prompt_version=f"extractive-{summary.kind}-v2",
    )


def _cited(
    text: str, part: Part, vectors: np.ndarray, numbers: dict[int, NumberedChunk]
) -> list[tuple[str, list[int]]]:
    """The model's sentences with the passage numbers each cites; a sentence without a valid
    citation is given the passage of its part closest to it in meaning."""
    sentences = [s.strip() for s in _OUTPUT_SENTENCE.split(text) if s and s.strip(" -*\t")]
    result: list[tuple[str, list[int]]] = []
    uncited: list[int] = []
    for sentence in sentences:
        cited = [int(n) for n in CITATION.findall(sentence) if int(n) in numbers]
        clean = _uncited(sentence)
        if not clean or clean.upper() == prompts.NOTHING_MARKER:
            continue
        if not cited:
            uncited.append(len(result))
        result.append((clean, cited))
    if uncited:
        encoded = np.asarray(get_embedder().encode([result[i][0] for i in uncited]), dtype=np.float32)
        local = vectors[[p.number - 1 for p in part.passages]]
        for row, i in zip(encoded, uncited, strict=True):
            result[i] = (result[i][0], [part.passages[int(np.argmax(local @ row))].number])
    return result


def _only_citing(reply: str, source: str) -> str:
    """A reduce reply keeps only the citation numbers its input had: a number the model made up
    (or took from elsewhere) would credit a passage it never saw."""
    allowed = set(CITATION.findall(source))
    return CITATION.sub(lambda m: m.group(0) if m.group(1) in allowed else "", reply)


def _render(
    sentences: Sequence[tuple[str, list[int]]], numbers: dict[int, NumberedChunk], citations: _Citations
) -> str:
    lines = []
    for sentence, cited in sentences:
        marks = "".join(f"[{citations.cite(numbers[n])}]" for n in dict.fromkeys(cited))
        lines.append(f"- {sentence} {marks}".rstrip())
    return "\n".join(lines)


def _generative(summary: Summary, passages: list[NumberedChunk], llm: OpenAICompatibleLLM, progress: Progress) -> None:
    budget = settings.LLM_CONTEXT_TOKENS - settings.LLM_MAX_ANSWER_TOKENS - 400
    multi = len({p.document.pk for p in passages}) > 1
    parts = parts_of(passages, budget_tokens=budget, max_passages=10**9, multi=multi, min_tokens=budget // 8)
    vectors = _vectors(passages)
    numbers = {p.number: p for p in passages}
    rounds = max(1, math.ceil(math.log(max(len(parts), 2), REDUCE_GROUP)))
    total_calls = len(parts) + rounds
    mapped: list[tuple[Part, list[tuple[str, list[int]]]]] = []
    for index, part in enumerate(parts):
        prompt_passages = [
            prompts.PromptPassage(n=p.number, title=p.document.title, page=p.chunk.page_number, text=p.chunk.text)
            for p in part.passages
        ]
        reply = llm.complete(
            prompts.summary_map_messages(summary.kind, prompt_passages), settings.LLM_MAX_ANSWER_TOKENS
        )
        mapped.append((part, _cited(reply, part, vectors, numbers)))
        progress((index + 1) / total_calls, f"read part {index + 1} of {len(parts)}")

    partials = [
        "\n".join(f"{s} " + "".join(f"[{n}]" for n in cited) for s, cited in sentences)
        for _, sentences in mapped
        if sentences
    ]
    what = passages[0].document.title if not multi else f"{len(summary.sources)} documents"
    done_calls = len(parts)
    while len(partials) > 1:
        groups = [partials[i : i + REDUCE_GROUP] for i in range(0, len(partials), REDUCE_GROUP)]
        partials = []
        for group in groups:
            messages = prompts.summary_reduce_messages(summary.kind, what, group)
            reply = llm.complete(messages, settings.LLM_MAX_ANSWER_TOKENS).strip()
            partials.append(_only_citing(reply, "\n".join(group)))
        done_calls += 1
        progress(min(0.99, done_calls / total_calls), "combining the parts")
    overview_raw = partials[0] if partials else ""

    citations = _Citations()
    overview = []
    for sentence in (s.strip() for s in _OUTPUT_SENTENCE.split(overview_raw)):
        cited = [int(n) for n in CITATION.findall(sentence) if int(n) in numbers]
        clean = _uncited(sentence)
        if clean and cited and clean.upper() != prompts.NOTHING_MARKER:  # an uncited overview line is dropped
            overview.append((clean, cited))
    text = _render(overview, numbers, citations) or "Nothing of this kind was found in the documents."
    sections = [
        {"heading": part.heading, "pages": part.pages, "text": _render(sentences, numbers, citations)}
        for part, sentences in mapped
        if sentences
    ]
    record_finish(
        summary,
        text=text,
        sections=sections,
        citations=citations.items,
        backend="openai",
        model_name=llm.model,
        prompt_version=f"{prompts.SUMMARY_MAP_PROMPT_VERSION}+{prompts.SUMMARY_REDUCE_PROMPT_VERSION}",
    )


def summary_build(summary: Summary, progress: Progress) -> None:
    """Makes the summary (called by the worker with a claimed, running record)."""
    passages = _passages(summary)
    progress(0.01, f"reading {len(passages)} passages")
    llm = get_llm()
    if llm is None:
        _extractive(summary, passages, progress)
    else:
        _generative(summary, passages, llm, progress)
