"""Publication dates read from an article's own words, for text that arrives with no metadata."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
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
        ]
    )
    for m in names
}
_MON = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_PATTERNS = [
    re.compile(rf"\b{_YEAR}-(?P<mnum>[01]\d)-(?P<dnum>[0-3]\d)\b"),
    re.compile(rf"\b{_MON}\s+{_DAY}(?:\s*[-–]\s*[0-3]?\d)?(?:,?\s+{_YEAR})?\b", re.IGNORECASE),
    re.compile(rf"\b{_DAY}(?:\s*[-–]\s*[0-3]?\d)?\s+{_MON}(?:,?\s+{_YEAR})?\b", re.IGNORECASE),
]
_YEAR_ONLY = re.compile(r"\b(?:in|since|of|from|by)\s+(?:\w+\s+)?((?:19|20)\d\d)\b|\b((?:19|20)\d\d)\b")


def start_of_day(day: date) -> datetime:
    """Midnight UTC of a day: how a date read from text is stored as a publication time."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def find_dates(text: str, default_year: int | None) -> list[tuple[int, date, bool]]:
    """Every date in the text as (offset, date, had_year); a day and month take `default_year`."""
    found: dict[int, tuple[int, date, bool]] = {}
    for pat in _PATTERNS:
        for m in pat.finditer(text):
            if m.start() in found:
                continue
            g = m.groupdict()
            if g.get("mnum"):
                d = _make(int(g["year"]), int(g["mnum"]), int(g["dnum"]))
                had_year = True
            else:
                month = _MONTHS[g["mon"].lower().rstrip(".")]
                had_year = bool(g.get("year"))
                year = int(g["year"]) if had_year else default_year
                if year is None:
                    continue
                d = _make(year, month, int(g["day"]))
            if d is not None:
                found[m.start()] = (m.start(), d, had_year)
    return sorted(found.values())


def infer_published(text: str, bylines: list[str] | None = None, today: date | None = None) -> date | None:
    """The date an article was written, or None when its words do not say.

    A byline or dateline date wins. Otherwise the latest event the story reports as having
    happened "on <date>" (the day of the speech it covers), with a missing year taken from the
    latest year the article mentions. Dates in the future are skipped.
    """
    today = today or date.today()
    for line in bylines or []:
        dates = find_dates(line, None)
        if dates:
            return dates[0][1]
    head = text[:300]
    first_line = head.split("\n", 1)[0]
    if len(first_line) < 80:
        dateline = [d for _, d, had_year in find_dates(first_line, None) if had_year and d <= today]
        if dateline:
            return dateline[0]
    years = [int(a or b) for a, b in _YEAR_ONLY.findall(text)]
    years = [y for y in years if y <= today.year]
    default_year = max(years) if years else None
    on_dates = [
        d for off, d, _ in find_dates(text, default_year) if text[max(0, off - 3) : off].lower() == "on " and d <= today
    ]
    return max(on_dates) if on_dates else None
