"""Built-in extraction templates and the rule-based field finders used when no LLM is configured.

Each finder reads the document's passages in reading order and returns the value together with the
verbatim sentence (or line) it was read from, its chunk and its page — or None. The rules are
deliberately narrow: a missing value is better than an invented one, so every finder needs an explicit
textual signal (a label, a legal formula, a unit) and never guesses from a bare number.

Array fields (parties from labelled lines, materials, tolerances, referenced_standards) collect their
items from the first passage that has any; items in later passages are not merged, so that the one
chunk_id and page returned really contain every item.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MAX_QUOTE_CHARS = 400
MAX_TEMPLATE_PROPERTIES = 40
MAX_DESCRIPTION_CHARS = 500


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    page: int | None
    text: str


@dataclass(frozen=True)
class Found:
    value: str | list[str]
    quote: str
    chunk_id: int
    page: int | None


Finder = Callable[[Sequence[Passage]], Found | None]


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


# --- splitting passages into sentences and lines -----------------------------------------------------------------

# Words after which a full stop does not end a sentence ("Drawing No. 12", "Acme Ltd. and", "Rev. C").
_ABBREVIATIONS = frozenset(
    "no nos nr rev doc dwg ltd inc co corp mr mrs ms dr st vs art sec cl fig approx ref para pp jr sr incl "
    "e.g i.e u.s u.k s.a n.v b.v l.p l.l.c p.c mat spec".split()
)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_LABEL_LINE = re.compile(r"^[A-Z][A-Za-z0-9 .,/&()'’-]{0,40}?\s*:\s*\S")
_ENUMERATED_LINE = re.compile(
    r"^(?:[-•*–]|\(?\d{1,2}(?:\.\d{1,2})*[.)]|\d{1,2}(?:\.\d{1,2})+|\(?[a-z][.)]|\([ivx]{1,4}\))\s"
)
_WS = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"


def _hard_break(previous: str, line: str) -> bool:
    """Whether a line break ends a unit: labelled and enumerated lines, headings and finished sentences do;
    a break inside wrapped prose does not."""
    if previous.endswith((".", "!", "?", ":", ";")) or _LABEL_LINE.match(line) or _ENUMERATED_LINE.match(line):
        return True
    if _LABEL_LINE.match(previous):
        return True
    return len(previous) < 40 and not previous.endswith((",", "-", "(")) and line[:1].isupper()


def _split_sentences(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        words = line[start : match.start()].split()
        last = words[-1].lower().rstrip(".") if words else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        if len(words) == 1 and re.fullmatch(r"\(?\d{1,2}(?:\.\d{1,2})*", words[0]):
            continue  # a clause number ("1. MATERIAL: ...") stays with its clause
        end = match.end() - (len(match.group()) - len(match.group().rstrip()))
        pieces.append(line[start:end])
        start = match.end()
    pieces.append(line[start:])
    return [p.strip() for p in pieces if p.strip()]


@lru_cache(maxsize=512)
def _units(text: str) -> tuple[str, ...]:
    """The passage's sentences and lines, whitespace-normalised; joining neighbours with one space gives
    the normalised original span, so a quote built from several units is still verbatim."""
    units: list[str] = []
    for paragraph in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        logical: list[str] = []
        for raw in paragraph.split("\n"):
            line = _normalise(raw)
            if not line:
                continue
            if logical and not _hard_break(logical[-1], line):
                logical[-1] = f"{logical[-1]} {line}"
            else:
                logical.append(line)
        for line in logical:
            units.extend(_split_sentences(line))
    return tuple(units)


def _iter_units(passages: Sequence[Passage]) -> Iterator[tuple[Passage, int, str]]:
    for passage in passages:
        for index, unit in enumerate(_units(passage.text)):
            yield passage, index, unit


def _is_clause(unit: str) -> bool:
    """Headings ("8. Confidentiality") and stamps ("CONFIDENTIAL") are not clauses worth quoting as a value."""
    return len(unit.split()) >= 6


def _found(value: str | list[str], unit: str, passage: Passage) -> Found:
    return Found(value=value, quote=_cut(unit), chunk_id=passage.chunk_id, page=passage.page)


def _span_quote(units: Sequence[str], indexes: Sequence[int]) -> str:
    """The verbatim span from the first to the last matching unit when it fits, else the first unit."""
    span = " ".join(units[indexes[0] : indexes[-1] + 1])
    return span if len(span) <= MAX_QUOTE_CHARS else _cut(units[indexes[0]])


def _sentence_finder(pattern: re.Pattern[str], also: re.Pattern[str] | None = None) -> Finder:
    """A finder whose value is the first clause matching the pattern (and `also`, when given)."""

    def find(passages: Sequence[Passage]) -> Found | None:
        for passage, _, unit in _iter_units(passages):
            if pattern.search(unit) and (also is None or also.search(unit)) and _is_clause(unit):
                return _found(_cut(unit), unit, passage)
        return None

    return find


# --- dates -------------------------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_YEAR = r"(?:19|20)\d{2}"
_DATE = re.compile(
    rf"(?<![\d./+-])(?P<iy>{_YEAR})(?P<isep>[-/.])(?P<im>\d{{1,2}})(?P=isep)(?P<id>\d{{1,2}})(?!\d)(?![./-]\d)"
    rf"|(?<![\d.,/+-])(?P<dd>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+day\s+of)?[\s-]+(?P<dm>{_MONTH}),?[\s-]+"
    rf"(?P<dy>{_YEAR})(?!\d)"
    rf"|\b(?P<mm>{_MONTH})\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<my>{_YEAR})(?!\d)"
    rf"|(?<![\d./+-])(?P<n1>\d{{1,2}})(?P<nsep>[/.-])(?P<n2>\d{{1,2}})(?P=nsep)(?P<n3>{_YEAR}|\d{{2}})"
    r"(?!\d)(?![./-]\d)",
    re.IGNORECASE,
)


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        return None


def _date_value(match: re.Match[str]) -> str | None:
    """ISO `YYYY-MM-DD` for a real calendar date, the text as written for day/month-ambiguous numeric dates
    (01/03/2024), None for something that only looks like a date (2024-13-45, 45/67/2024)."""
    groups = match.groupdict()
    if groups["iy"]:
        return _iso(int(groups["iy"]), int(groups["im"]), int(groups["id"]))
    if groups["dd"]:
        return _iso(int(groups["dy"]), _MONTHS[groups["dm"].rstrip(".").lower()], int(groups["dd"]))
    if groups["mm"]:
        return _iso(int(groups["my"]), _MONTHS[groups["mm"].rstrip(".").lower()], int(groups["md"]))
    a, b, year = int(groups["n1"]), int(groups["n2"]), groups["n3"]
    if len(year) == 2 and groups["nsep"] != "/":
        return None  # "12.3.24" is more likely a clause or version number than a date
    if not (1 <= a <= 31 and 1 <= b <= 31) or (a > 12 and b > 12):
        return None
    if a <= 12 and b <= 12:
        return match.group()  # 01/03/2024: 1 March or January 3 — only the reader can tell
    day, month = (a, b) if a > 12 else (b, a)
    if len(year) == 4:
        return _iso(int(year), month, day)
    return match.group() if _iso(2000, month, day) else None


def _dates(unit: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of every real date in the unit."""
    found: list[tuple[int, int, str]] = []
    for match in _DATE.finditer(unit):
        value = _date_value(match)
        if value:
            found.append((match.start(), match.end(), value))
    return found


def dates_in(text: str) -> list[str]:
    """Every real date the text states, as ISO `YYYY-MM-DD` (ambiguous numeric dates as written):
    what a date value read from this text may be."""
    return [value for _, _, value in _dates(text)]


_EFFECTIVE = re.compile(r"(?<![-\w])effective\b", re.IGNORECASE)
_UNTIL = re.compile(r"\b(?:until|till|through|to|expir\w*|ends?|ending)\b", re.IGNORECASE)


def _find_effective_date(passages: Sequence[Passage]) -> Found | None:
    """The date after the first "effective" in a sentence, else the nearest before it ("as of 1 March 2024
    (the "Effective Date")")."""
    for passage, _, unit in _iter_units(passages):
        keyword = _EFFECTIVE.search(unit)
        if not keyword:
            continue
        dates = _dates(unit)
        # "remains effective until 31 December 2027" names the end, not the start.
        after = [d for d in dates if d[0] >= keyword.end() and not _UNTIL.search(unit[keyword.end() : d[0]])]
        before = [d for d in dates if d[1] <= keyword.start()]
        chosen = after[0] if after else before[-1] if before else None
        if chosen:
            return _found(chosen[2], unit, passage)
    # No dated "effective": an agreement takes effect on the date it is made ("made on 1 March 2024
    # between …"), unless it says otherwise — and then the first pass has found that.
    for passage, _, unit in _iter_units(passages):
        made = _MADE_ON.search(unit) if _AGREEMENT.search(unit) else None
        dates = [d for d in _dates(unit) if made and d[0] >= made.end()]
        if dates:
            return _found(dates[0][2], unit, passage)
    return None


_MADE_ON = re.compile(r"\b(?:is\s+)?(?:made|entered\s+into|concluded|executed|dated)\b", re.IGNORECASE)
_AGREEMENT = re.compile(r"\b(?:agreement|contract|deed|between)\b", re.IGNORECASE)  # not "payments made on …"


_DATE_LABEL = re.compile(
    r"(?:\bdate\s+of\s+issue|\bissue\s+date|\bissued(?:\s+on)?|\bdated|\bdate)\b\s*[:#-]?\s*", re.IGNORECASE
)


def _find_document_date(passages: Sequence[Passage]) -> Found | None:
    """A date starting within a few characters after "Date:", "Issued" or "dated" — never any date in the text."""
    for passage, _, unit in _iter_units(passages):
        for label in _DATE_LABEL.finditer(unit):
            for start, _end, value in _dates(unit):
                if label.end() <= start <= label.end() + 12 and not re.search(r"[.;]", unit[label.end() : start]):
                    return _found(value, unit, passage)
    return None


# --- contract fields ---------------------------------------------------------------------------------------------

_BETWEEN = re.compile(
    r"(?:\b(?:made|entered\s+into|concluded|executed|dated)\b.{0,200}?|\bby\s+and\s+)\bbetween\b\s*:?\s*",
    re.IGNORECASE,
)
_DEFINED_TERM = re.compile(
    r"\((?:[^()]*?\b(?:hereinafter|referred|together|collectively|each)\b[^()]*?)?\s*(?:the\s+)?[\"“‘'][^\"”’']{1,60}"
    r"[\"”’'][^()]*\)",
    re.IGNORECASE,
)
_PARTY_LABEL = re.compile(
    r"^(?:(?:the\s+)?party\s+(?:[A-D1-4])|supplier|customer|client|buyer|seller|purchaser|vendor|contractor|"
    r"subcontractor|licensor|licensee|lessor|lessee|landlord|tenant|employer|employee|consultant|"
    r"(?:service\s+)?provider|recipient|discloser|disclosing\s+party|receiving\s+party)\s*[:–-]\s*(?P<name>.+)$",
    re.IGNORECASE,
)
_CORPORATE_SUFFIX = re.compile(
    r"^(?:inc|incorporated|llc|l\.l\.c|ltd|limited|plc|corp|co|lp|l\.p|llp|gmbh|ag|sa|s\.a|nv|n\.v|bv|b\.v|"
    r"s\.?r\.?l|s\.?p\.?a|pty(?:\s+ltd)?|kg|oy|ab|as|a/s)\.?$",
    re.IGNORECASE,
)
_PARTY_DESCRIPTOR = re.compile(
    r"\s+(?:an?\s|having\s|whose\s|with\s+(?:its\s+)?(?:registered|principal)|incorporated\s|registered\s|"
    r"organi[sz]ed\s|located\s|residing\s|of\s+\d|hereinafter\b|acting\s)",
    re.IGNORECASE,
)
_ENUMERATOR = re.compile(r"^(?:(?:\(?\d{1,2}[.)]|\(?[a-d][.)]|and\b|&)\s*)+", re.IGNORECASE)


def _clean_party(text: str) -> str | None:
    """The legal name from "Acme Widgets, Inc., a Delaware corporation with offices at ..." (or None)."""
    name = _ENUMERATOR.sub("", text.strip(" ,;:")).strip()
    name = name.split("(", 1)[0]
    descriptor = _PARTY_DESCRIPTOR.search(name)
    if descriptor:
        name = name[: descriptor.start()]
    parts = [p.strip() for p in name.split(",")]
    kept = parts[:1]
    for part in parts[1:]:
        if not _CORPORATE_SUFFIX.match(part):
            break
        kept.append(part)
    name = ", ".join(kept).strip(" ,;:")
    if name.endswith(".") and not _CORPORATE_SUFFIX.match(name.rsplit(" ", 1)[-1]):
        name = name[:-1]
    if not name or not (name[0].isupper() or name[0].isdigit()) or len(name) > 150:
        return None
    return name


def _parties_between(unit: str) -> list[str]:
    """Names from a "made ... between X ("A") and Y ("B")" sentence, split on the defined terms when there are
    some, else on " and " before a capitalised name."""
    lead = _BETWEEN.search(unit)
    if not lead:
        return []
    tail = unit[lead.end() :]
    terms = list(_DEFINED_TERM.finditer(tail))
    if terms:
        pieces, start = [], 0
        for term in terms:
            pieces.append(tail[start : term.start()])
            start = term.end()
    else:
        pieces = re.split(r",?\s+and\s+(?=[A-Z0-9(])", tail.rstrip("."), maxsplit=1)
        if len(pieces) < 2:
            return []
    names = [_clean_party(piece) for piece in pieces]
    if len(names) < 2 or any(n is None for n in names):
        return []
    return [n for n in names if n]


def _find_parties(passages: Sequence[Passage]) -> Found | None:
    for passage, index, unit in _iter_units(passages):
        names = _parties_between(unit)
        if names:
            return _found(names, unit, passage)
        if _BETWEEN.search(unit) and unit.endswith((":", ";", " and", "between")):
            # "... is made between:" followed by the parties as enumerated lines "(1) ACME LIMITED ...; and"
            units = _units(passage.text)
            for last in range(index + 1, min(index + 4, len(units))):
                names = _parties_between(" ".join(units[index : last + 1]))
                if names:
                    return Found(names, _span_quote(units, [index, last]), passage.chunk_id, passage.page)
        label = _PARTY_LABEL.match(unit)
        if label and _clean_party(label["name"]):
            units = _units(passage.text)
            labelled = [
                (i, name)
                for i, u in enumerate(units)
                if i >= index and (m := _PARTY_LABEL.match(u)) and (name := _clean_party(m["name"]))
            ]
            indexes = [i for i, _ in labelled]
            return Found(
                value=list(dict.fromkeys(name for _, name in labelled)),
                quote=_span_quote(units, indexes),
                chunk_id=passage.chunk_id,
                page=passage.page,
            )
    return None


_NUMBER_WORD = (
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[\s-](?:one|two|three|four|five|six|seven|"
    r"eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen)"
)
_DURATION = re.compile(
    rf"\b(?:{_NUMBER_WORD}(?:\s*\(\s*\d{{1,3}}\s*\))?|\d{{1,3}})[\s-]+(?:calendar\s+|consecutive\s+)?"
    r"(?:years?|months?|weeks?|days?)\b(?!['’]?\s*(?:prior\s+)?(?:written\s+)?notice)",
    re.IGNORECASE,
)
_TERM_WORD = re.compile(r"(?<![-\w])term\b", re.IGNORECASE)


def _find_term(passages: Sequence[Passage]) -> Found | None:
    """The first duration after the word "term" ("a term of three (3) years" -> "three (3) years")."""
    for passage, _, unit in _iter_units(passages):
        keyword = _TERM_WORD.search(unit)
        if not keyword:
            continue
        duration = _DURATION.search(unit, keyword.end())
        if duration:
            return _found(_normalise(duration.group()), unit, passage)
    return None


_RENEWAL = re.compile(r"\b(?:auto[-\s]?)?renew(?:s|ed|al|als|ing)?\b", re.IGNORECASE)
_TERMINATE = re.compile(r"\bterminat(?:e|es|ed|ion|ing)\b", re.IGNORECASE)
_WHO_OR_NOTICE = re.compile(
    r"\b(?:may|can|shall\s+be\s+entitled\s+to|is\s+entitled\s+to|right\s+to)\s+(?:\w+\s+){0,3}terminat|\bnotice\b",
    re.IGNORECASE,
)
_GOVERNED = re.compile(
    r"(?i:\b(?:governed\s+by|(?:construed|interpreted)\s+(?:in\s+accordance\s+with|under))\b"
    r"(?:\s*,?\s*and\s+(?:shall\s+be\s+|is\s+)?(?:construed|interpreted)\s+"
    r"(?:in\s+accordance\s+with|under)\b)?\s*,?\s*(?:the\s+)?laws?\s+of\s+(?:the\s+)?"
    r"(?:(?:state|commonwealth|province)\s+of\s+)?)"
    r"(?P<place>[A-Z][\w'’.-]*(?:\s+(?:and\s+|of\s+)?[A-Z][\w'’.-]*)*)"
)
_GOVERNED_ADJECTIVE = re.compile(r"(?i:\bgoverned\s+by\s+)(?P<place>[A-Z][a-z]+\s+(?i:law))\b")
_LAW_LABEL = re.compile(
    r"^(?i:(?:governing|applicable)\s+law(?:\s+and\s+jurisdiction)?\s*[:–-]\s*(?:the\s+)?(?:laws?\s+of\s+)?(?:the\s+)?"
    r"(?:(?:state|commonwealth|province)\s+of\s+)?)(?P<place>[A-Z][^:]*?)\.?$"
)


def _find_governing_law(passages: Sequence[Passage]) -> Found | None:
    for passage, _, unit in _iter_units(passages):
        match = _GOVERNED.search(unit) or _GOVERNED_ADJECTIVE.search(unit) or _LAW_LABEL.match(unit)
        if match:
            place = match["place"].strip().rstrip(".,;")
            if place:
                return _found(place, unit, passage)
    return None


_LIABILITY = re.compile(r"\bliab(?:ility|ilities|le)\b", re.IGNORECASE)
_LIMIT = re.compile(r"\b(?:limit(?:s|ed)?|cap(?:s|ped)?|exceed(?:s|ing)?|aggregate|maximum)\b", re.IGNORECASE)
_AMOUNT = r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})*(?:\.\d{1,2})?|\d+(?:\.\d+)?"
_SCALE = r"(?:\s*(?:million|billion|thousand|mn|bn|m|k)\b)?"
_MONEY = re.compile(
    rf"(?:\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD|SEK|NOK|DKK)\s?|US\$\s?|[$€£¥]\s?)(?:{_AMOUNT}){_SCALE}"
    rf"|\b(?:{_AMOUNT}){_SCALE}\s*(?:US\s+dollars|U\.S\.\s+dollars|dollars|euros?|pounds(?:\s+sterling)?|"
    r"(?:USD|EUR|GBP|CHF)\b)",
    re.IGNORECASE,
)
_INSURANCE = re.compile(r"\binsur(?:ance|ed|er)\b", re.IGNORECASE)  # "liability insurance with a limit of $10m"
_UNLIMITED = re.compile(
    r"\bunlimited\s+liability\b|\bliab(?:ility|le)\b[^.]{0,80}?\b(?:is|are|shall\s+be|will\s+be)\s+"
    r"(?:unlimited|not\s+(?:be\s+)?(?:limited|capped))\b",
    re.IGNORECASE,
)


def _find_liability_cap(passages: Sequence[Passage]) -> Found | None:
    """An amount in a liability-limiting sentence wins over "unlimited" anywhere, because unlimited liability is
    usually a carve-out (fraud, death) next to the real cap."""
    unlimited: Found | None = None
    for passage, _, unit in _iter_units(passages):
        if not _LIABILITY.search(unit) or _INSURANCE.search(unit):
            continue
        money = _MONEY.search(unit)
        if money and _LIMIT.search(unit):
            return _found(_normalise(money.group()).rstrip(".,"), unit, passage)
        if unlimited is None and _UNLIMITED.search(unit):
            unlimited = _found("unlimited", unit, passage)
    return unlimited


_CONFIDENTIAL = re.compile(
    r"\bconfidential\s+information\b|\bconfidentiality\b|\b(?:keep|kept|treat|held|hold)\s+(?:\w+\s+){0,4}"
    r"(?:confidential|in\s+(?:strict\s+)?confidence)\b",
    re.IGNORECASE,
)
_ASSIGN = re.compile(r"\bassign(?:ment|ments|able|ability)?\b", re.IGNORECASE)


# --- engineering fields ------------------------------------------------------------------------------------------

_DOCUMENT_NUMBER = re.compile(
    r"(?i:\b(?:drawing|dwg|document|doc|specification|spec|report)\.?\s*(?:no\b|nr\b|number\b|\#)\.?\s*[:#]?\s*)"
    r"(?P<id>[A-Za-z0-9][A-Za-z0-9._/-]*[A-Za-z0-9])"
)
_REVISION = re.compile(
    r"(?<![A-Za-z])(?i:rev(?:ision)?)(?:\b\.?\s*[:#]?\s*|(?=\d))(?P<rev>\d{1,3}(?:\.\d{1,2})?|[A-Z]{1,2}\d{0,2})\b"
)


def _find_document_number(passages: Sequence[Passage]) -> Found | None:
    for passage, _, unit in _iter_units(passages):
        for match in _DOCUMENT_NUMBER.finditer(unit):
            if any(c.isdigit() for c in match["id"]):
                return _found(match["id"], unit, passage)
    return None


def _find_revision(passages: Sequence[Passage]) -> Found | None:
    for passage, _, unit in _iter_units(passages):
        match = _REVISION.search(unit)
        if match:
            return _found(match["rev"], unit, passage)
    return None


_MATERIAL_LABEL = re.compile(
    r"^(?:\(?\d{1,2}[.)]\s*)?(?P<label>materials?|mat(?:['’]?l|\.)?)\s*(?::|\s[–-]\s)\s*(?P<items>[^:]+?)\.?$",
    re.IGNORECASE,
)


# "AISI 316L stainless steel to ASTM A276": the standard is a referenced standard, not part of the material.
_STANDARD_REFERENCE = re.compile(
    r"\s+(?i:to|per|as\s+per|according\s+to|acc\.\s+to|in\s+accordance\s+with)\s+(?=[A-Z]{2,}[\s-]?[A-Z]?\d)"
)


def _materials_in(unit: str) -> list[str]:
    match = _MATERIAL_LABEL.search(unit)
    if not match:
        return []
    separators = r";|,\s*|\s+and\s+" if match["label"].lower() == "materials" else r";"
    items = [_STANDARD_REFERENCE.split(item, maxsplit=1)[0] for item in re.split(separators, match["items"])]
    items = [_normalise(item).strip(" .,") for item in items]
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


def _tolerances_in(unit: str) -> list[str]:
    return [_normalise(m.group()) for m in _TOLERANCE.finditer(unit)]


def _standards_in(unit: str) -> list[str]:
    found = []
    for match in _STANDARD.finditer(unit):
        standard = match["std"]
        if re.search(r"\b10204$", standard):  # EN 10204 certificates name their type: "EN 10204 3.1"
            extra = _CERTIFICATE_TYPE.match(unit[match.end() :])
            standard += extra.group() if extra else ""
        found.append(_normalise(standard))
    return found


def _list_finder(items_in: Callable[[str], list[str]]) -> Finder:
    """A finder collecting distinct items, in order, from the first passage that has any."""

    def find(passages: Sequence[Passage]) -> Found | None:
        for passage in passages:
            units = _units(passage.text)
            per_unit = [(index, items_in(unit)) for index, unit in enumerate(units)]
            matched = [(index, items) for index, items in per_unit if items]
            if matched:
                values = list(dict.fromkeys(item for _, items in matched for item in items))
                quote = _span_quote(units, [index for index, _ in matched])
                return Found(value=values, quote=quote, chunk_id=passage.chunk_id, page=passage.page)
        return None

    return find


_FINDERS: dict[str, Finder] = {
    "parties": _find_parties,
    "effective_date": _find_effective_date,
    "term": _find_term,
    "renewal": _sentence_finder(_RENEWAL),
    "termination": _sentence_finder(_TERMINATE, _WHO_OR_NOTICE),
    "governing_law": _find_governing_law,
    "liability_cap": _find_liability_cap,
    "confidentiality": _sentence_finder(_CONFIDENTIAL),
    "assignment": _sentence_finder(_ASSIGN),
    "document_number": _find_document_number,
    "revision": _find_revision,
    "date": _find_document_date,
    "materials": _list_finder(_materials_in),
    "tolerances": _list_finder(_tolerances_in),
    "referenced_standards": _list_finder(_standards_in),
}


def has_rule(name: str) -> bool:
    return name in _FINDERS


def find_field(name: str, passages: Sequence[Passage]) -> Found | None:
    """The rule-based value of a built-in field with its quote, chunk and page; None when there is no rule for
    the field or nothing in the text matches it (never a guess)."""
    finder = _FINDERS.get(name)
    return finder(passages) if finder else None


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
