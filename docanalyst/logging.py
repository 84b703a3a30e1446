"""A logging filter that masks secrets in log records: Bearer/Token/Basic credentials, `password=`,
`api_key=`, `secret=`, `token=` style pairs (also as JSON or dict items) and passwords in URLs
(`postgres://user:PASSWORD@host`). Attached to the console handler in settings.LOGGING; it masks the
message and any traceback text, so a secret in an exception's message is masked as well."""

from __future__ import annotations

import logging
import re

MASK = "[redacted]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer <token> (or Token, Basic): the whole credential after the header name
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:[a-z]+\s+)?[^\s\"',;]+"), rf"\1{MASK}"),
    # a Bearer credential anywhere else
    (re.compile(r"(?i)\b(bearer\s+)(?!\[redacted\])[A-Za-z0-9._~+/=-]+"), rf"\1{MASK}"),
    # password=..., "api_key": "...", LLM_API_KEY=..., client_secret: ..., access_token=... (query
    # strings, JSON, dict reprs). Counts such as prompt_tokens=12 are not secrets and stay.
    (
        re.compile(
            r"""(?ix)
            \b([a-z0-9_-]*(?:password|passwd|passphrase|pwd|secret|token|(?:api|secret|private|access)[_-]?key|apikey))
            (["']?\s*[:=]\s*)
            (?:"[^"]*"|'[^']*'|[^\s"'&,;)}\]]+)
            """
        ),
        rf"\1\2{MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{MASK}@"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record whose text holds a secret; never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the handler's to report, not ours
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
