"""The built-in extraction templates (JSON schemas) and the checks a user-defined template must pass: a flat
object of text, numbers, booleans and lists of text that the finders and the LLM prompt can handle."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MAX_TEMPLATE_PROPERTIES = 40
MAX_DESCRIPTION_CHARS = 500

# --- built-in templates ------------------------------------------------------------------------------------------

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _text(description: str, **extra: str) -> dict[str, str]:
    return {"type": "string", "description": description, **extra}


def _list(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


BUILTIN_TEMPLATES: dict[str, dict] = {
    "contract": {
        "$schema": _SCHEMA_DIALECT,
        "title": "Contract",
        "description": "Key commercial and legal terms of an agreement between two or more parties.",
        "type": "object",
        "properties": {
            "parties": _list("The parties to the agreement: the legal names of the companies or persons who sign it"),
            "effective_date": _text(
                "The effective date of the agreement: the date from which it takes effect or commences",
                format="date",
            ),
            "term": _text("The term of the agreement: how long it lasts, such as an initial term of three years"),
            "renewal": _text(
                "How the agreement is renewed or extended when its term ends, including automatic renewal"
            ),
            "termination": _text("Who may terminate the agreement, on what grounds and with how much notice"),
            "governing_law": _text(
                "The governing law: the country or state whose laws govern and are used to interpret the agreement"
            ),
            "liability_cap": _text(
                "The limitation of liability: the maximum aggregate amount a party can be liable for, "
                "or whether liability is unlimited"
            ),
            "confidentiality": _text(
                "The confidentiality obligations: how confidential information must be protected and not disclosed"
            ),
            "assignment": _text(
                "Whether and how a party may assign or transfer the agreement or its rights to another party"
            ),
        },
        "additionalProperties": False,
    },
    "engineering": {
        "$schema": _SCHEMA_DIALECT,
        "title": "Engineering drawing or specification",
        "description": "Identification, materials, tolerances and standards of a technical drawing or specification.",
        "type": "object",
        "properties": {
            "document_number": _text("The drawing or document number that identifies this drawing or specification"),
            "revision": _text("The revision (issue) of the drawing or document, such as Rev. C or revision 03"),
            "date": _text("The date the drawing or document was issued, approved or dated", format="date"),
            "materials": _list("The materials specified for the part, such as AISI 316L stainless steel"),
            "tolerances": _list("Dimensional tolerances and general tolerance classes, such as ±0.05 mm or ISO 2768-m"),
            "referenced_standards": _list(
                "The standards referenced by the document, such as ISO 9001, ASTM A276 or EN 10204 3.1"
            ),
        },
        "additionalProperties": False,
    },
}


# --- user-defined templates ----------------------------------------------------------------------------------------

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
_SCALAR_TYPES = ("string", "number", "integer", "boolean")
_TOP_LEVEL_KEYS = {"$schema", "$id", "title", "description", "type", "properties", "required", "additionalProperties"}
_PROPERTY_KEYS = {"type", "description", "format", "items"}


def _refs(node: object, path: str = "the template") -> list[str]:
    if isinstance(node, dict):
        found = [path] if "$ref" in node or "$dynamicRef" in node else []
        for key, value in node.items():
            found.extend(_refs(value, f"{path} › {key}"))
        return found
    if isinstance(node, list):
        return [ref for index, item in enumerate(node) for ref in _refs(item, f"{path} › {index}")]
    return []


def _property_errors(name: str, spec: object) -> list[str]:
    label = f'Field "{name}"'
    errors: list[str] = []
    if not _PROPERTY_NAME.match(name):
        errors.append(
            f"{label}: a field name must start with a lowercase letter and use only lowercase letters, digits and "
            'underscores, at most 50 characters (for example "due_date").'
        )
    if not isinstance(spec, dict):
        return [*errors, f'{label}: must describe the field, for example {{"type": "string"}}.']
    kind = spec.get("type")
    if kind == "object" or "properties" in spec:
        errors.append(f"{label}: nested objects are not supported; split it into separate fields instead.")
    elif kind == "array":
        items = spec.get("items")
        if isinstance(items, dict) and (items.get("type") == "object" or "properties" in items):
            errors.append(f"{label}: lists of objects are not supported; only lists of text are allowed.")
        elif items != {"type": "string"}:
            errors.append(f'{label}: a list must be a list of text, with "items": {{"type": "string"}}.')
    elif kind is None:
        errors.append(f'{label}: the field has no "type" (string, number, integer, boolean or array).')
    elif kind not in _SCALAR_TYPES:
        errors.append(
            f"{label}: the type must be one of string, number, integer, boolean or array (a list of text), "
            f"not {kind!r}."
        )
    if "items" in spec and kind != "array":
        errors.append(f'{label}: "items" is only allowed on a list (type "array").')
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        errors.append(f"{label}: the description must be text.")
    elif isinstance(description, str) and len(description) > MAX_DESCRIPTION_CHARS:
        errors.append(
            f"{label}: the description is {len(description)} characters long; at most {MAX_DESCRIPTION_CHARS} "
            "are allowed."
        )
    if "format" in spec and (spec["format"] != "date" or kind != "string"):
        errors.append(f'{label}: the only supported format is "date", on a text (string) field.')
    unknown = sorted(set(spec) - _PROPERTY_KEYS)
    if unknown:
        errors.append(
            f"{label}: unsupported setting(s) {', '.join(unknown)}; a field may only have type, description, "
            "format and (for lists) items."
        )
    return errors


def validate_template_schema(schema: object) -> list[str]:
    """Readable reasons a user-defined template cannot be used (empty when it can): the finders and the LLM
    prompt only handle a flat object of text, numbers, booleans and lists of text."""
    if not isinstance(schema, dict):
        return [
            "The template must be a JSON object describing the fields to extract "
            f'(with "type": "object" and "properties"), not {type(schema).__name__}.'
        ]
    errors: list[str] = []
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = " › ".join(str(part) for part in error.path)
        errors.append(f"The template is not a valid JSON schema{f' at {where}' if where else ''}: {error.message}.")
    errors.extend(f"References ($ref) are not supported ({where})." for where in _refs(schema))
    if schema.get("type") != "object":
        errors.append(f'The template must have "type": "object" at the top level, not {schema.get("type")!r}.')
    unknown = sorted(set(schema) - _TOP_LEVEL_KEYS)
    if unknown:
        errors.append(
            f"The template has unsupported top-level setting(s): {', '.join(unknown)}. Allowed: "
            f"{', '.join(sorted(_TOP_LEVEL_KEYS))}."
        )
    if not isinstance(schema.get("additionalProperties", False), bool):
        errors.append('"additionalProperties" must be true or false.')
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        errors.append('The template must list at least one field under "properties".')
        return errors
    if len(properties) > MAX_TEMPLATE_PROPERTIES:
        errors.append(f"The template has {len(properties)} fields; at most {MAX_TEMPLATE_PROPERTIES} are allowed.")
    for name, spec in properties.items():
        errors.extend(_property_errors(str(name), spec))
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        errors.append('"required" must be a list of field names.')
    else:
        errors.extend(f'"required" names a field that does not exist: "{r}".' for r in required if r not in properties)
    return errors
