"""The search language users type, parsed into plain data.

Words, "quoted phrases", -exclusions, OR, and filters (topic:, source:, since:, before:, after:).
Only word characters survive into terms, so no user text ever reaches FTS5 or tsquery as syntax:
`"nato AND (` is the query `nato`, never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

_TOKEN_RE = re.compile(r'(-?)(?:(\w+):)?"([^"]*)"?|(\S+)', re.UNICODE)
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_DURATION_RE = re.compile(r"^(\d{1,5})\s*(m|min|h|d|w|mo|y)$", re.IGNORECASE)
_DURATION_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}
FILTERS = ("topic", "source", "since", "before", "after", "figure")
MAX_TERMS = 16


class QueryError(ValueError):
    """A filter value that cannot mean anything (`since:yesterdayish`); the message says which."""


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]

    @property
    def phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class Query:
    groups: tuple[tuple[Term, ...], ...] = ()  # AND of OR-groups
    excluded: tuple[Term, ...] = ()
    topics: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    since: datetime | None = None
    before: datetime | None = None
    notes: tuple[str, ...] = field(default=())  # what was ignored, for the user

    @property
    def has_terms(self) -> bool:
        return bool(self.groups)

    @property
    def is_empty(self) -> bool:
        return not (
            self.groups or self.excluded or self.topics or self.sources or self.figures or self.since or self.before
        )

    def describe(self) -> str:
        parts = [" OR ".join(_show(t) for t in g) for g in self.groups]
        parts += [f"-{_show(t)}" for t in self.excluded]
        parts += [f"topic:{t}" for t in self.topics] + [f"source:{s}" for s in self.sources]
        parts += [f"figure:{f}" for f in self.figures]
        if self.since:
            parts.append(f"since:{self.since:%Y-%m-%d %H:%M}")
        if self.before:
            parts.append(f"before:{self.before:%Y-%m-%d}")
        return " ".join(parts)


def _show(t: Term) -> str:
    return f'"{" ".join(t.words)}"' if t.phrase else t.words[0]


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """`7d`, `24h`, `2w`, `3mo` back from now, or an ISO date like `2025-06-01`."""
    now = now or datetime.now(UTC)
    value = value.strip()
    m = _DURATION_RE.match(value)
    if m:
        try:
            return now - timedelta(seconds=int(m.group(1)) * _DURATION_UNITS[m.group(2).lower()])
        except OverflowError:  # since:9999y reaches before year 1
            raise QueryError(f"'{value}' reaches too far back: use a date like 2020-01-01") from None
    if value.lower() == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value.lower() == "yesterday":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    try:
        d = date.fromisoformat(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            raise QueryError(f"'{value}' is not a time: use 24h, 7d, 2w, 3mo or a date like 2025-06-01") from None
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def parse_query(text: str, now: datetime | None = None) -> Query:
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    topics: list[str] = []
    sources: list[str] = []
    figures: list[str] = []
    since: datetime | None = None
    before: datetime | None = None
    notes: list[str] = []
    pending_or = False
    for m in _TOKEN_RE.finditer(text or ""):
        neg, key, quoted, bare = m.group(1), m.group(2), m.group(3), m.group(4)
        if bare is not None:
            neg = "-" if bare.startswith("-") and len(bare) > 1 else ""
            bare = bare[1:] if neg else bare
            if ":" in bare:
                k, _, v = bare.partition(":")
                if k.lower() in FILTERS and v:
                    key, quoted = k, v
            if key is None:
                if bare == "OR":
                    pending_or = bool(groups)
                    continue
                if bare in ("AND", "NOT"):
                    continue
        if key is not None and key.lower() in FILTERS:
            value = (quoted or "").strip()
            k = key.lower()
            if not value:
                continue
            if k == "topic":
                topics.append(value.lower())
            elif k == "source":
                sources.append(value.lower())
            elif k == "figure":
                figures.append(value)
            elif k in ("since", "after"):
                since = parse_time(value, now)
            elif k == "before":
                before = parse_time(value, now)
            continue
        raw = quoted if quoted is not None else (bare or "")
        if key is not None:  # an unknown key:"value" is just words
            raw = f"{key} {raw}"
        words = tuple(_WORD_RE.findall(raw.lower()))  # lower first: "İ" lowers to "i" + a combining dot
        if not words:
            continue
        if len(groups) + len(excluded) >= MAX_TERMS:
            notes.append(f"only the first {MAX_TERMS} terms are used")
            break
        term = Term(words)
        if neg:
            excluded.append(term)
        elif pending_or and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        pending_or = False
    return Query(
        groups=tuple(tuple(g) for g in groups),
        excluded=tuple(excluded),
        topics=tuple(dict.fromkeys(topics)),
        sources=tuple(dict.fromkeys(sources)),
        figures=tuple(figures),
        since=since,
        before=before,
        notes=tuple(dict.fromkeys(notes)),
    )
