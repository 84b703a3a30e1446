"""The generative model, reached through any OpenAI-compatible server (vLLM in production).

`get_llm()` returns None when `LLM_BASE_URL` is empty: callers then fall back to extractive
answers and summaries. Every failure of the server — refused connection, timeout, HTTP 5xx, a
malformed or cut-off stream — becomes `LLMUnavailable` with a message a user can read.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


class LLMUnavailable(RuntimeError):
    """The language model could not produce an answer; search keeps working."""


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


class OpenAICompatibleLLM:
    def __init__(self, base_url: str, model: str, api_key: str, timeout: float, max_retries: int) -> None:
        import openai

        self.model = model
        self.base_url = base_url
        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)

    def _messages(self, messages: list[Message]) -> Any:
        """As the OpenAI client's message params (typed there as a union of TypedDicts)."""
        return [{"role": m.role, "content": m.content} for m in messages]

    def _unavailable(self, exc: Exception) -> LLMUnavailable:
        openai = self._openai
        if isinstance(exc, openai.APITimeoutError):
            detail = "it did not answer in time"
        elif isinstance(exc, openai.APIConnectionError):
            detail = "it could not be reached"
        elif isinstance(exc, openai.APIStatusError):
            detail = f"it answered with HTTP {exc.status_code}"
        else:
            detail = f"its reply could not be read ({type(exc).__name__})"
        logger.warning("LLM at %s failed: %s", self.base_url, exc)
        return LLMUnavailable(f"The language model is unavailable: {detail}. Search still works; try again later.")

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=self._messages(messages), max_tokens=max_tokens, temperature=0.0
            )
            content = response.choices[0].message.content
        except Exception as exc:
            raise self._unavailable(exc) from exc
        if content is None:
            raise LLMUnavailable("The language model returned an empty reply.")
        return content

    def complete_json(self, messages: list[Message], schema: dict[str, Any], max_tokens: int) -> str:
        """A reply the server was asked to make follow `schema` (settings.LLM_STRUCTURED_OUTPUT):
        vLLM's structured outputs constrain decoding, so the reply validates; the caller validates
        it anyway, because "off" and older servers give no such guarantee."""
        mode = settings.LLM_STRUCTURED_OUTPUT
        extra: dict[str, Any] = {}
        if mode == "json_schema":
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "extraction", "schema": schema, "strict": True},
            }
        elif mode == "guided_json":
            extra["extra_body"] = {"guided_json": schema}
        elif mode == "json_object":
            extra["response_format"] = {"type": "json_object", "schema": schema}
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=self._messages(messages), max_tokens=max_tokens, temperature=0.0, **extra
            )
            content = response.choices[0].message.content
        except Exception as exc:
            raise self._unavailable(exc) from exc
        if content is None:
            raise LLMUnavailable("The language model returned an empty reply.")
        return content

    def stream(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        """Yield text deltas as the server produces them."""
        try:
            stream: Any = self.client.chat.completions.create(
                model=self.model, messages=self._messages(messages), max_tokens=max_tokens, temperature=0.0, stream=True
            )
            finished = False
            for event in stream:
                if not event.choices:
                    continue
                choice = event.choices[0]
                if choice.delta and choice.delta.content:
                    yield choice.delta.content
                if choice.finish_reason:
                    finished = True
        except LLMUnavailable:
            raise
        except Exception as exc:
            raise self._unavailable(exc) from exc
        if not finished:
            raise LLMUnavailable("The language model's reply was cut off before it finished. Try again.")


@functools.cache
def get_llm() -> OpenAICompatibleLLM | None:
    if not settings.LLM_BASE_URL:
        return None
    return OpenAICompatibleLLM(
        base_url=settings.LLM_BASE_URL,
        model=settings.LLM_MODEL,
        api_key=settings.LLM_API_KEY,
        timeout=settings.LLM_TIMEOUT_SECONDS,
        max_retries=settings.LLM_MAX_RETRIES,
    )
