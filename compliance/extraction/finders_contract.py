"""Rule-based finders of the contract template's fields: parties, effective date, term, governing law and
liability cap, and the patterns of the clauses quoted whole (renewal, termination, confidentiality, assignment)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from compliance.extraction.dates import date_spans
from compliance.extraction.found import Found, found
from compliance.extraction.text import iter_units, normalise, span_quote, units_of
from search.citations import Passage

# --- contract fields ---------------------------------------------------------------------------------------------

_EFFECTIVE = re.compile(r"(?<![-\w])effective\b", re.IGNORECASE)
_UNTIL = re.compile(r"\b(?:until|till|through|to|expir\w*|ends?|ending)\b", re.IGNORECASE)


def find_effective_date(passages: Sequence[Passage]) -> Found | None:
    """The date after the first "effective" in a sentence, else the nearest before it ("as of 1 March 2024
    (the "Effective Date")")."""
    for passage, _, unit in iter_units(passages):
        keyword = _EFFECTIVE.search(unit)
        if not keyword:
            continue
        dates = date_spans(unit)
        # "remains effective until 31 December 2027" names the end, not the start.
        after = [d for d in dates if d[0] >= keyword.end() and not _UNTIL.search(unit[keyword.end() : d[0]])]
        before = [d for d in dates if d[1] <= keyword.start()]
        chosen = after[0] if after else before[-1] if before else None
        if chosen:
            return found(chosen[2], unit, passage)
    # No dated "effective": an agreement takes effect on the date it is made ("made on 1 March 2024
    # between …"), unless it says otherwise — and then the first pass has found that.
    for passage, _, unit in iter_units(passages):
        made = _MADE_ON.search(unit) if _AGREEMENT.search(unit) else None
        dates = [d for d in date_spans(unit) if made and d[0] >= made.end()]
        if dates:
            return found(dates[0][2], unit, passage)
    return None


_MADE_ON = re.compile(r"\b(?:is\s+)?(?:made|entered\s+into|concluded|executed|dated)\b", re.IGNORECASE)
_AGREEMENT = re.compile(r"\b(?:agreement|contract|deed|between)\b", re.IGNORECASE)  # not "payments made on …"

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


def find_parties(passages: Sequence[Passage]) -> Found | None:
    for passage, index, unit in iter_units(passages):
        names = _parties_between(unit)
        if names:
            return found(names, unit, passage)
        if _BETWEEN.search(unit) and unit.endswith((":", ";", " and", "between")):
            # "... is made between:" followed by the parties as enumerated lines "(1) ACME LIMITED ...; and"
            units = units_of(passage.text)
            for last in range(index + 1, min(index + 4, len(units))):
                names = _parties_between(" ".join(units[index : last + 1]))
                if names:
                    return Found(names, span_quote(units, [index, last]), passage.chunk_id, passage.page)
        label = _PARTY_LABEL.match(unit)
        if label and _clean_party(label["name"]):
            units = units_of(passage.text)
            labelled = [
                (i, name)
                for i, u in enumerate(units)
                if i >= index and (m := _PARTY_LABEL.match(u)) and (name := _clean_party(m["name"]))
            ]
            indexes = [i for i, _ in labelled]
            return Found(
                value=list(dict.fromkeys(name for _, name in labelled)),
                quote=span_quote(units, indexes),
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


def find_term(passages: Sequence[Passage]) -> Found | None:
    """The first duration after the word "term" ("a term of three (3) years" -> "three (3) years")."""
    for passage, _, unit in iter_units(passages):
        keyword = _TERM_WORD.search(unit)
        if not keyword:
            continue
        duration = _DURATION.search(unit, keyword.end())
        if duration:
            return found(normalise(duration.group()), unit, passage)
    return None


RENEWAL = re.compile(r"\b(?:auto[-\s]?)?renew(?:s|ed|al|als|ing)?\b", re.IGNORECASE)
TERMINATE = re.compile(r"\bterminat(?:e|es|ed|ion|ing)\b", re.IGNORECASE)
WHO_OR_NOTICE = re.compile(
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


def find_governing_law(passages: Sequence[Passage]) -> Found | None:
    for passage, _, unit in iter_units(passages):
        match = _GOVERNED.search(unit) or _GOVERNED_ADJECTIVE.search(unit) or _LAW_LABEL.match(unit)
        if match:
            place = match["place"].strip().rstrip(".,;")
            if place:
                return found(place, unit, passage)
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


def find_liability_cap(passages: Sequence[Passage]) -> Found | None:
    """An amount in a liability-limiting sentence wins over "unlimited" anywhere, because unlimited liability is
    usually a carve-out (fraud, death) next to the real cap."""
    unlimited: Found | None = None
    for passage, _, unit in iter_units(passages):
        if not _LIABILITY.search(unit) or _INSURANCE.search(unit):
            continue
        money = _MONEY.search(unit)
        if money and _LIMIT.search(unit):
            return found(normalise(money.group()).rstrip(".,"), unit, passage)
        if unlimited is None and _UNLIMITED.search(unit):
            unlimited = found("unlimited", unit, passage)
    return unlimited


CONFIDENTIAL = re.compile(
    r"\bconfidential\s+information\b|\bconfidentiality\b|\b(?:keep|kept|treat|held|hold)\s+(?:\w+\s+){0,4}"
    r"(?:confidential|in\s+(?:strict\s+)?confidence)\b",
    re.IGNORECASE,
)
ASSIGN = re.compile(r"\bassign(?:ment|ments|able|ability)?\b", re.IGNORECASE)
