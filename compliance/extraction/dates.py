"""Real calendar dates in text, as ISO `YYYY-MM-DD` (day/month-ambiguous numeric dates as written)."""

from __future__ import annotations

import datetime
import re

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


def date_spans(unit: str) -> list[tuple[int, int, str]]:
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
    return [value for _, _, value in date_spans(text)]
