"""Rule-based finders of the engineering template's fields: document number, revision and date, and the items
of the materials, tolerances and referenced-standards lists."""

from __future__ import annotations

import re
from collections.abc import Sequence

from compliance.extraction.dates import date_spans
from compliance.extraction.found import Found, found
from compliance.extraction.text import iter_units, normalise
from search.citations import Passage

# --- engineering fields ------------------------------------------------------------------------------------------

_DATE_LABEL = re.compile(
    r"(?:\bdate\s+of\s+issue|\bissue\s+date|\bissued(?:\s+on)?|\bdated|\bdate)\b\s*[:#-]?\s*", re.IGNORECASE
)


def find_document_date(passages: Sequence[Passage]) -> Found | None:
    """A date starting within a few characters after "Date:", "Issued" or "dated" — never any date in the text."""
    for passage, _, unit in iter_units(passages):
        for label in _DATE_LABEL.finditer(unit):
            for start, _end, value in date_spans(unit):
                if label.end() <= start <= label.end() + 12 and not re.search(r"[.;]", unit[label.end() : start]):
                    return found(value, unit, passage)
    return None


_DOCUMENT_NUMBER = re.compile(
    r"(?i:\b(?:drawing|dwg|document|doc|specification|spec|report)\.?\s*(?:no\b|nr\b|number\b|\#)\.?\s*[:#]?\s*)"
    r"(?P<id>[A-Za-z0-9][A-Za-z0-9._/-]*[A-Za-z0-9])"
)
_REVISION = re.compile(
    r"(?<![A-Za-z])(?i:rev(?:ision)?)(?:\b\.?\s*[:#]?\s*|(?=\d))(?P<rev>\d{1,3}(?:\.\d{1,2})?|[A-Z]{1,2}\d{0,2})\b"
)


def find_document_number(passages: Sequence[Passage]) -> Found | None:
    for passage, _, unit in iter_units(passages):
        for match in _DOCUMENT_NUMBER.finditer(unit):
            if any(c.isdigit() for c in match["id"]):
                return found(match["id"], unit, passage)
    return None


def find_revision(passages: Sequence[Passage]) -> Found | None:
    for passage, _, unit in iter_units(passages):
        match = _REVISION.search(unit)
        if match:
            return found(match["rev"], unit, passage)
    return None


_MATERIAL_LABEL = re.compile(
    r"^(?:\(?\d{1,2}[.)]\s*)?(?P<label>materials?|mat(?:['’]?l|\.)?)\s*(?::|\s[–-]\s)\s*(?P<items>[^:]+?)\.?$",
    re.IGNORECASE,
)


# "AISI 316L stainless steel to ASTM A276": the standard is a referenced standard, not part of the material.
_STANDARD_REFERENCE = re.compile(
    r"\s+(?i:to|per|as\s+per|according\s+to|acc\.\s+to|in\s+accordance\s+with)\s+(?=[A-Z]{2,}[\s-]?[A-Z]?\d)"
)


def materials_in(unit: str) -> list[str]:
    match = _MATERIAL_LABEL.search(unit)
    if not match:
        return []
    separators = r";|,\s*|\s+and\s+" if match["label"].lower() == "materials" else r";"
    items = [_STANDARD_REFERENCE.split(item, maxsplit=1)[0] for item in re.split(separators, match["items"])]
    items = [normalise(item).strip(" .,") for item in items]
    return [item for item in items if item and any(c.isalpha() for c in item)]


_UNIT = r"(?:\s?(?:mm|µm|μm|um|deg|inch(?:es)?)\b|\s?°)?"
_TOLERANCE = re.compile(
    rf"\btolerance\s+of\s+(?:±\s?|\+/-\s?)?\d+(?:[.,]\d+)?{_UNIT}"
    rf"|(?:±|\+/-)\s?\d+(?:[.,]\d+)?{_UNIT}"
    rf"|\+\s?\d+(?:[.,]\d+)?\s?/\s?-\s?\d+(?:[.,]\d+)?{_UNIT}"
    r"|\b(?:DIN\s?7168|(?:(?:DIN|BS)\s+)?(?:EN\s+)?ISO\s?2768)-[fmcvg][HKL]?\b",
    re.IGNORECASE,
)
_STANDARD = re.compile(
    r"(?<![A-Za-z0-9])(?P<std>"
    r"(?:(?:(?:BS|DIN|NF|UNE|SN|ÖNORM|PN|CSN|SS)\s+)?(?:EN\s+)?(?:ISO/IEC|ISO/TS|ISO/TR|ISO|IEC)"
    r"|(?:BS|DIN|NF|UNE|ÖNORM)\s+EN|EN|ASTM|ASME|ANSI|API|SAE|NFPA|IEEE|AWS|JIS|UL|DIN|BS|NACE|MIL-STD)"
    r"[\s-]?(?:[A-Z]{1,2}\s?)?\d+(?:\.\d+)*[A-Z]?(?:[-/][A-Z]?\d+(?:\.\d+)*[A-Z]?)*(?:-[fmcv][HKL]?\b)?(?::\d{4})?"
    r")(?![A-Za-z0-9])"
)
_CERTIFICATE_TYPE = re.compile(r"^\s+(?:type\s+)?[23]\.[12](?:\s?[A-Z])?\b", re.IGNORECASE)


def tolerances_in(unit: str) -> list[str]:
    return [normalise(m.group()) for m in _TOLERANCE.finditer(unit)]


def standards_in(unit: str) -> list[str]:
    found = []
    for match in _STANDARD.finditer(unit):
        standard = match["std"]
        if re.search(r"\b10204$", standard):  # EN 10204 certificates name their type: "EN 10204 3.1"
            extra = _CERTIFICATE_TYPE.match(unit[match.end() :])
            standard += extra.group() if extra else ""
        found.append(normalise(standard))
    return found
