"""The OpenAPI schema tells the truth: the Bearer scheme of API tokens beside the session cookie,
and the error answers every operation can give (with the one shape they all have)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object

ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "What is wrong, in words, naming the field when it is one."},
        "unavailable": {
            "type": "string",
            "enum": ["database", "redis", "chroma", "model"],
            "description": "With 503: the dependency that is down.",
        },
    },
    # `detail`, or (a 400 from a serializer) one entry per field: {"field": ["message"]}.
    "additionalProperties": True,
}
ERRORS = {
    "400": "Bad input: the message names the field.",
    "401": "No valid session or Bearer token.",
    "403": "Signed in, but this needs a role or write access you do not have.",
    "404": "No such object, or one you may not read (the two answer alike).",
    "415": "The body is not in a media type this operation reads (JSON; multipart for uploads).",
    "429": "Too many requests of this kind; retry after the Retry-After header's seconds.",
    "503": "A dependency (database, Redis, Chroma, the model) is down; retry after the Retry-After header's seconds.",
}
THROTTLED = {("/api/v1/ask", "post"), ("/api/v1/summaries", "post"), ("/api/v1/comparisons", "post")}
THROTTLED |= {("/api/v1/extractions", "post")}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer <token>` (knox tokens, audited on every use)."""

    target_class = "docanalyst.auth.AuditedTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")  # noqa: S106 - the scheme name, not a secret


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every operation's error answers, as the views give them: 401 and 503 everywhere, 403 for
    what needs a role or write access, 404 where a path names an object, 400 where there is input,
    429 where the operation is rate-limited."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR
    reference = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = ["401", "403", "503"]
            parameters = operation.get("parameters", [])
            if any(p.get("in") == "path" for p in parameters):
                codes.append("404")
            if parameters or "requestBody" in operation:
                codes.append("400")
            if "requestBody" in operation:
                codes.append("415")
                if "404" not in codes:
                    codes.append("404")  # the body names objects (a conversation, documents, a template)
            if (path, method) in THROTTLED:
                codes.append("429")
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(
                    code, {"description": ERRORS[code], "content": {"application/json": {"schema": reference}}}
                )
    return result
