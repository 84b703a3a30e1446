"""Field extraction with JSON-schema templates, made in the worker, and its review.

For each document and field the record holds the value, the passage and page it was read from, or
"not found" with the reason. Nothing is invented: a value must be found in the passage it cites
(checked here, whatever produced it), and must validate against the template's schema.

With a language model the passages most likely to hold each field (search inside the document)
go to the model in one delimited block, with the server asked for output that follows a schema
(`LLM_STRUCTURED_OUTPUT`; vLLM's structured outputs); the output is validated in any case. Without
one, the built-in fields are read by deterministic rules (`compliance.extraction`) and other text fields
by the closest sentence in meaning, when it is close enough.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from typing import Any

import jsonschema
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backends import prompts
from backends.embedder import get_embedder
from backends.llm import OpenAICompatibleLLM, get_llm
from compliance import extraction as rules
from compliance.models import ExtractionReviewEntry, ExtractionRun, ExtractionTemplate, ExtractionValue
from compliance.records import Progress, RecordNotPossible, documents_ready, record_finish, record_queue, sources_of
from ingest.models import Collection, Document
from ingest.selectors import User
from search.citations import MAX_QUOTE_CHARS, Passage, split_sentences
from search.extractive import best_sentence_per_text
from search.retrieval import SearchFilters, SearchHit, chunks_search

logger = logging.getLogger(__name__)

MAX_DOCUMENTS = 2000
CANDIDATES_PER_FIELD = 3
MIN_SEMANTIC_SIMILARITY = 0.5
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

MAX_REVIEW_COMMENT = 2000


class TemplateInvalid(ValueError):
    pass


# --- templates -------------------------------------------------------------------------------------


def builtin_templates_sync(apps: Any = None, using: str = "default", **_: Any) -> None:
    """Keeps the built-in templates in the database as the code defines them (post_migrate; with
    the migrated state's model, so a partial `migrate` to before the table exists skips it)."""
    try:
        model = apps.get_model("compliance", "ExtractionTemplate") if apps is not None else ExtractionTemplate
    except LookupError:
        return
    for name, schema in rules.BUILTIN_TEMPLATES.items():
        model._default_manager.using(using).update_or_create(
            name=name, defaults={"schema": schema, "builtin": True, "description": schema.get("description", "")}
        )


def template_create(*, user: User, name: str, description: str, schema: object) -> ExtractionTemplate:
    name = name.strip()
    if not re.fullmatch(r"[\w .-]{1,100}", name):
        raise TemplateInvalid("A template name is 1 to 100 letters, digits, spaces, dots, dashes or underscores.")
    if ExtractionTemplate.objects.filter(name=name).exists():
        raise TemplateInvalid(f"A template named {name!r} exists already.")
    errors = rules.validate_template_schema(schema)
    if errors:
        raise TemplateInvalid("The schema is not usable: " + "; ".join(errors))
    assert isinstance(schema, dict)
    budget = reply_token_budget(fields_of(schema))
    if budget > settings.LLM_CONTEXT_TOKENS // 2:
        raise TemplateInvalid(
            f"The template asks for more at once ({budget} tokens of answer) than fits beside the passages in the "
            f"model's {settings.LLM_CONTEXT_TOKENS}-token window: split it into smaller templates."
        )
    return ExtractionTemplate.objects.create(
        name=name,
        description=description.strip()[:2000],
        schema=schema,
        builtin=False,
        created_by=user if user.is_authenticated else None,
    )


def fields_of(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list(schema.get("properties", {}).items())


# --- requests (web side) ---------------------------------------------------------------------------


def extraction_request(
    *, user: User, template: ExtractionTemplate, documents: Sequence[Document], collection: Collection | None = None
) -> ExtractionRun:
    """A queued run of `template` over readable documents (the caller checked they are readable)."""
    documents = documents_ready(documents)
    if len(documents) > MAX_DOCUMENTS:
        raise RecordNotPossible(f"At most {MAX_DOCUMENTS} documents per run; {len(documents)} were selected.")
    run = ExtractionRun.objects.create(
        created_by=user if user.is_authenticated else None,
        template=template,
        template_name=template.name,
        schema=template.schema,
        collection=collection,
        sources=sources_of(documents),
    )
    run.documents.set(documents)
    record_queue(run)
    return run


# --- is a value really in its passage? -------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _date_in(value: str, text: str) -> bool:
    """The passage states this date (in any of the formats the rules read), or the value as written."""
    return value in rules.dates_in(text) or (not _ISO_DATE.fullmatch(value) and _text_in(value, text))


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _numbers_in(text: str) -> set[float]:
    """The numbers a text states, thousands separators removed ("5,000,000" → 5000000.0)."""
    found: set[float] = set()
    for raw in _NUMBER.findall(text):
        for reading in (raw.replace(",", ""), raw.replace(".", "").replace(",", ".")):
            try:
                found.add(float(reading))
            except ValueError:
                continue
    return found


def _text_in(value: str, text: str) -> bool:
    wanted = _words(value)
    if not wanted:
        return False
    haystack = " ".join(_words(text))
    if " ".join(wanted) in haystack:
        return True
    present = set(haystack.split())
    numbers = [w for w in wanted if any(ch.isdigit() for ch in w)]
    if any(w not in present for w in numbers):
        return False
    return sum(w in present for w in wanted) / len(wanted) >= 0.8


def value_supported(value: Any, spec: dict[str, Any], text: str) -> Any:
    """The part of `value` that the passage `text` states (None when nothing of it is there)."""
    kind = spec.get("type")
    if value is None:
        return None
    if kind == "array":
        kept = [item for item in value if isinstance(item, str) and item.strip() and _text_in(item, text)]
        return kept or None
    if kind in ("number", "integer"):
        return value if isinstance(value, int | float) and float(value) in _numbers_in(text) else None
    if kind == "boolean":
        return value  # a yes/no read from a cited passage: the reviewer checks it against the quote
    if spec.get("format") == "date":
        return value if _date_in(str(value), text) else None
    return value if _text_in(str(value), text) else None


def _quote(value: Any, text: str) -> str:
    """The sentence of the passage that holds the value (the passage's start when none stands out)."""
    needles = value if isinstance(value, list) else [value]
    words = set().union(*(_words(str(n)) for n in needles)) if needles else set()
    sentences = split_sentences(text) or [" ".join(text.split())[:MAX_QUOTE_CHARS]]
    best = max(sentences, key=lambda s: len(words & set(_words(s))))
    return best[:MAX_QUOTE_CHARS]


# --- building (worker side) ------------------------------------------------------------------------


def _candidates(user: User, document: Document, fields: Sequence[tuple[str, dict[str, Any]]]) -> list[SearchHit]:
    """The passages most likely to hold each field, searched inside the document, in rank order."""
    seen: dict[int, SearchHit] = {}
    for name, spec in fields:
        query = spec.get("description") or name.replace("_", " ")
        within = SearchFilters(document_ids=(document.pk,), include_old_versions=True)  # any version asked for
        for hit in chunks_search(user=user, query=query, k=CANDIDATES_PER_FIELD, filters=within):
            seen.setdefault(hit.chunk.pk, hit)
    return list(seen.values())


def _fit(hits: list[SearchHit], budget_tokens: int) -> list[SearchHit]:
    kept: list[SearchHit] = []
    used = 0
    for hit in hits:
        cost = prompts.passage_tokens(hit.chunk.token_count, hit.chunk.text)
        if kept and used + cost > budget_tokens:
            break
        kept.append(hit)
        used += cost
    return kept


MAX_VALUE_CHARS = 400  # a value is a name, a date, an amount or one clause: bounded, so output always ends
MAX_ITEM_CHARS = 200  # a party, a material, a standard
MAX_ITEMS = 12


def _bounded(spec: dict[str, Any]) -> dict[str, Any]:
    """The field's type with length bounds: constrained decoding then cannot run past max_tokens
    inside one endless string (a small model would), and the reply stays parseable."""
    kind = spec.get("type")
    if kind == "string":
        return {"type": "string", "maxLength": MAX_VALUE_CHARS}
    if kind == "array":
        return {"type": "array", "items": {"type": "string", "maxLength": MAX_ITEM_CHARS}, "maxItems": MAX_ITEMS}
    return {"type": kind}


def _nullable(spec: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [_bounded(spec), {"type": "null"}]}


def reply_token_budget(fields: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Enough tokens for every field at its longest (a token is at least 3 characters), with the
    JSON around each value."""
    string = MAX_VALUE_CHARS // 3 + 20
    array = MAX_ITEMS * (MAX_ITEM_CHARS // 3 + 4) + 20
    return 60 + sum(array if spec.get("type") == "array" else string for _, spec in fields)


def response_schema(fields: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """What the model must return: for every field its value (or null) and the passage number."""
    return {
        "type": "object",
        "properties": {
            name: {
                "type": "object",
                "properties": {"value": _nullable(spec), "passage": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
                "required": ["value", "passage"],
                "additionalProperties": False,
            }
            for name, spec in fields
        },
        "required": [name for name, _ in fields],
        "additionalProperties": False,
    }


Result = dict[str, Any]  # value, quote, page, chunk_id, note


def _not_found(note: str) -> Result:
    return {"value": None, "quote": "", "page": None, "chunk_id": None, "note": note}


def _extract_generative(
    llm: OpenAICompatibleLLM, user: User, document: Document, fields: list[tuple[str, dict[str, Any]]]
) -> dict[str, Result]:
    budget = settings.LLM_CONTEXT_TOKENS - reply_token_budget(fields) - 300
    if budget < 300:
        raise RecordNotPossible("This template asks for more than the model's window can answer; split it.")
    hits = _fit(_candidates(user, document, fields), budget)
    if not hits:
        return {name: _not_found("No passage of the document was found for this field.") for name, _ in fields}
    passages = [
        prompts.PromptPassage(n=i + 1, title=document.title, page=h.chunk.page_number, text=h.chunk.text)
        for i, h in enumerate(hits)
    ]
    schema = response_schema(fields)
    messages = prompts.extraction_messages([(n, s.get("description", n)) for n, s in fields], passages)
    reply: Any = None
    problem = ""
    for _attempt in range(2):  # one retry when the output does not validate
        raw = llm.complete_json(messages, schema, reply_token_budget(fields))
        try:
            reply = json.loads(raw, strict=False)  # a raw newline inside a string is still that string
            jsonschema.validate(reply, schema)
            break
        except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
            problem = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.message
            logger.warning("extraction output for document %s did not validate: %s", document.pk, problem)
            reply = None
    if reply is None:
        note = f"The model's output did not follow the template ({problem[:200]}); nothing was taken from it."
        return {name: _not_found(note) for name, _ in fields}
    results: dict[str, Result] = {}
    for name, spec in fields:
        answer = reply[name]
        number = answer.get("passage")
        if answer.get("value") is None:
            results[name] = _not_found("Not stated in the passages searched.")
            continue
        if not isinstance(number, int) or not 1 <= number <= len(hits):
            results[name] = _not_found("The model gave a value without a valid passage; it was not kept.")
            continue
        chunk = hits[number - 1].chunk
        value = value_supported(answer["value"], spec, chunk.text)
        if value is None:
            results[name] = _not_found("The model's value is not in the passage it cited; it was not kept.")
            continue
        results[name] = {
            "value": value,
            "quote": _quote(value, chunk.text),
            "page": chunk.page_number,
            "chunk_id": chunk.pk,
            "note": "",
        }
    return results


def _extract_by_rules(user: User, document: Document, fields: list[tuple[str, dict[str, Any]]]) -> dict[str, Result]:
    chunks = list(document.chunks.order_by("ordinal"))
    passages = [Passage(chunk_id=c.pk, page=c.page_number, text=c.text) for c in chunks]
    results: dict[str, Result] = {}
    for name, spec in fields:
        if rules.has_rule(name):
            found = rules.find_field(name, passages)
            results[name] = (
                {"value": found.value, "quote": found.quote, "page": found.page, "chunk_id": found.chunk_id, "note": ""}
                if found
                else _not_found("Not found in the document.")
            )
        elif spec.get("type") == "string" and spec.get("format") != "date":
            results[name] = _closest_sentence(user, document, name, spec)
        else:
            results[name] = _not_found("This field needs a language model (none is configured).")
    return results


def _closest_sentence(user: User, document: Document, name: str, spec: dict[str, Any]) -> Result:
    """A user-defined text field without a language model: the sentence of the document closest in
    meaning to the field's description, if it is close enough; the reviewer confirms it."""

    query = spec.get("description") or name.replace("_", " ")
    within = SearchFilters(document_ids=(document.pk,), include_old_versions=True)
    hits = chunks_search(user=user, query=query, k=2, filters=within)
    if not hits:
        return _not_found("Not found in the document.")
    (query_vector,) = get_embedder().encode([query])
    best = max(
        zip(hits, best_sentence_per_text(query_vector, [h.chunk.text for h in hits]), strict=True),
        key=lambda pair: pair[1][1],
    )
    hit, (sentence, similarity) = best
    if similarity < MIN_SEMANTIC_SIMILARITY:
        return _not_found(f"No sentence is close enough to the field's description (best {similarity:.2f}).")
    return {"value": sentence, "quote": sentence, "page": hit.chunk.page_number, "chunk_id": hit.chunk.pk, "note": ""}


def _validated(results: dict[str, Result], fields: list[tuple[str, dict[str, Any]]]) -> dict[str, Result]:
    """Every kept value validates against its field's schema; one that does not is not kept."""
    for name, spec in fields:
        value = results[name]["value"]
        if value is None:
            continue
        try:
            jsonschema.validate(value, spec, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as exc:
            results[name] = _not_found(f"The value found ({str(value)[:80]}) does not fit the template: {exc.message}")
    return results


def extraction_build(run: ExtractionRun, progress: Progress) -> None:
    user = run.created_by
    if user is None or not user.is_active:
        raise RecordNotPossible("The user who asked for this extraction no longer exists or is inactive.")
    fields = fields_of(run.schema)
    documents = {d.pk: d for d in run.documents.all()}
    order = [int(s["document_id"]) for s in run.sources]
    if any(pk not in documents for pk in order):
        raise RecordNotPossible("A document of this extraction was deleted before it could be read.")
    llm = get_llm()
    for index, document_id in enumerate(order):
        document = documents[document_id]
        if ExtractionValue.objects.filter(run=run, document=document).count() == len(fields):
            continue  # done before the worker was lost: idempotent
        results = _extract_generative(llm, user, document, fields) if llm else _extract_by_rules(user, document, fields)
        results = _validated(results, fields)
        with transaction.atomic():
            ExtractionValue.objects.filter(run=run, document=document).delete()
            ExtractionValue.objects.bulk_create(
                ExtractionValue(run=run, document=document, field=name, **results[name]) for name, _ in fields
            )
        progress((index + 1) / len(order), f"document {index + 1} of {len(order)}")
    record_finish(
        run,
        backend="openai" if llm else "rules",
        model_name=llm.model if llm else "",
        prompt_version=prompts.EXTRACTION_PROMPT_VERSION if llm else "extraction-rules-v1",
    )


# --- review ----------------------------------------------------------------------------------------


def parse_reviewed_value(spec: dict[str, Any], text: str) -> Any:
    """A reviewer's correction typed in a form, as the field's type (empty: confirmed absent)."""
    text = text.strip()
    if not text:
        return None
    kind = spec.get("type")
    try:
        if kind == "array":
            value: Any = [line.strip() for line in text.splitlines() if line.strip()]
        elif kind == "integer":
            value = int(text.replace(",", ""))
        elif kind == "number":
            value = float(text.replace(",", ""))
            if not math.isfinite(value):
                raise ValueError(text)
        elif kind == "boolean":
            if text.lower() not in ("yes", "no", "true", "false"):
                raise ValueError(text)
            value = text.lower() in ("yes", "true")
        else:
            value = text
        jsonschema.validate(value, spec, format_checker=jsonschema.FormatChecker())
    except (ValueError, jsonschema.ValidationError) as exc:
        reason = exc.message if isinstance(exc, jsonschema.ValidationError) else f"not a {kind}"
        raise TemplateInvalid(f"That value does not fit the field ({reason}).") from exc
    return value


def extraction_value_review(
    *, user: User, value: ExtractionValue, action: str, corrected: str = "", comment: str = ""
) -> ExtractionValue:
    """Approve the value as found, or correct it; the history keeps every step with its author."""
    if len(comment) > MAX_REVIEW_COMMENT:
        raise TemplateInvalid(f"comment: at most {MAX_REVIEW_COMMENT} characters ({len(comment)} given).")
    spec = value.run.schema.get("properties", {}).get(value.field, {"type": "string"})
    previous = value.current_value
    if action == ExtractionValue.Review.APPROVED:
        value.review = ExtractionValue.Review.APPROVED
        new = value.value
    elif action == ExtractionValue.Review.CORRECTED:
        new = parse_reviewed_value(spec, corrected)
        value.review, value.reviewed_value = ExtractionValue.Review.CORRECTED, new
    else:
        raise TemplateInvalid("A review either approves or corrects a value.")
    value.reviewed_by = user if user.is_authenticated else None
    value.reviewed_at = timezone.now()
    with transaction.atomic():
        value.save()
        ExtractionReviewEntry.objects.create(
            value=value, author=value.reviewed_by, action=action, previous=previous, new=new, comment=comment
        )
    return value
