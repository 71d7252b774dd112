"""What both search backends share: hits, snippets, stemming, and a date filter's id bounds.

Ranking is bounded: newsroom lookups want recent matches, so each backend first finds the newest
`window` matching articles (walking the index in id order, which follows arrival time) and ranks
only those by relevance, with recency breaking ties. Scoring every match of a common word in a
million articles is what makes naive full-text search slow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import sqlite_time
from bot.store.search.query import Query, Term

DEFAULT_WINDOW = 400
HIGHLIGHT = ("**", "**")


def stem(word: str) -> str:
    """A prefix that catches the inflections FTS5's porter stemmer folds together (talk/talks/talked).

    Only used to count occurrences inside rows FTS5 has already matched, so an approximate stem
    changes a score a little, never which rows are found.
    """
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "ly", "s", "e", "y"):
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


SNIPPET_CHARS = 220  # about the 32 words FTS5's snippet() would show


def _term_pattern(term: Term) -> str:
    return r"\b" + r"\W+".join(re.escape(stem(w)) + r"\w*" for w in term.words)


def snippet(q: Query, body: str, size: int = SNIPPET_CHARS) -> str:
    """The stretch of `body` (about `size` characters, cut at spaces) holding the most of the
    query's terms, terms in bold.

    Built here from the text the backend has read, on both backends: FTS5's `snippet()` means a
    second MATCH per returned row, seeking into every term's posting list again (6-9 ms a page at
    1M articles), and PostgreSQL's `ts_headline` parses each whole text (~20-40 ms a page at 1M on
    a busy machine). One regex finds the terms (~50 µs an article); words match on an approximate
    stem (`stem`), so "talks" highlights "talked", and a phrase is highlighted as one run.
    """
    terms = [t for g in q.groups for t in g]
    hits: list[tuple[int, int, int]] = []
    if terms and body:
        pattern = re.compile("|".join(f"(?P<t{k}>{_term_pattern(t)})" for k, t in enumerate(terms)), re.IGNORECASE)
        hits = [(m.start(), m.end(), int((m.lastgroup or "t0")[1:])) for m in pattern.finditer(body)]
    start = 0
    if hits:
        best = (-1, 0)
        for hit in hits[:64]:
            s = max(0, hit[0] - size // 5)
            inside = [h for h in hits if h[0] >= s and h[1] <= s + size]
            score = 1000 * len({h[2] for h in inside}) + len(inside)
            if score > best[0]:
                best = (score, s)
        start = body.rfind(" ", 0, best[1]) + 1 if best[1] else 0
    end = body.find(" ", start + size)
    end = len(body) if end < 0 else end
    out = ["…" if start else ""]
    pos = start
    for begin, past, _ in hits:
        if begin >= pos and past <= end:
            out += [body[pos:begin], HIGHLIGHT[0], body[begin:past], HIGHLIGHT[1]]
            pos = past
    out.append(body[pos:end])
    if end < len(body):
        out.append("…")
    return "".join(out)


@dataclass(frozen=True)
class SearchHit:
    id: int
    title: str
    outlet: str | None
    published: datetime | None
    url: str | None
    snippet: str
    topics: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class SearchPage:
    query: Query
    hits: tuple[SearchHit, ...]
    offset: int
    has_more: bool


def display_title(title: str | None, text: str, limit: int = 110) -> str:
    """Articles without a headline get their first sentence, cut at a word."""
    if title:
        return title
    first = text.split("\n", 1)[0]
    for end in (". ", "? ", "! "):
        if end in first[: limit + 1]:
            first = first[: first.index(end) + 1]
            break
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + "…"


async def id_bounds(session: AsyncSession, q: Query) -> tuple[int, int] | None:
    """The id range (inclusive) that can hold articles passing `since:`/`before:`; None if none can.

    The search walks the full-text index down from `hi`, so a `before:` far in the past starts
    where its articles are instead of reading and dropping every newer match. Ids follow arrival,
    not publication (late arrivals, backfilled feeds, revised dates), so the bounds are never
    guessed from dates. Whole days come from `article_days` (migration 0007), each publication
    day's smallest and largest id, kept by triggers in the articles' own transactions; the part
    of a day that `before:1y` or `since:7d` cuts (they rarely fall at midnight) is read from the
    date index, a day's articles at most. Before the table, the largest id before a date in the
    middle of the archive was found on the date index alone: ~300,000 entries at 1M articles
    (60-110 ms). Counting that cut day whole made a walk for a common word spend its rows on the
    three quarters of the day after `before:` (PostgreSQL: a `before:1y` phrase 140 ms, not 9).

    A day's range only ever widens (a revised date, a deleted article), so the bounds may hold a
    few ids more than the exact ones, never fewer: the search checks each row's date anyway.
    """
    full, partial = _day_split(q.since, q.before)
    sqlite = session.get_bind().dialect.name == "sqlite"
    bind: dict[str, object] = {}
    conds = []
    for key, op, day in (("first", ">=", full[0]), ("end", "<", full[1])):
        if day is not None:
            conds.append(f"day {op} :{key}")
            bind[key] = day.isoformat() if sqlite else day  # SQLite keeps days as text
    where = " WHERE " + " AND ".join(conds) if conds else ""
    parts = [f"SELECT min(min_id) AS lo, max(max_id) AS hi FROM article_days{where}"]
    for i, (start, stop) in enumerate(partial):
        # `id + 0`: PostgreSQL would rather find min(id) walking the primary key from the oldest id
        parts.append(f"SELECT min(id + 0), max(id + 0) FROM articles WHERE published_at >= :s{i} AND published_at < :e{i}")
        bind[f"s{i}"], bind[f"e{i}"] = (sqlite_time(start), sqlite_time(stop)) if sqlite else (start, stop)
    sql = "SELECT min(lo), max(hi) FROM (" + " UNION ALL ".join(parts) + ") AS p"
    lo, hi = (await session.execute(text(sql), bind)).one()
    return None if lo is None else (int(lo), int(hi))


def _day_split(
    since: datetime | None, before: datetime | None
) -> tuple[tuple[date | None, date | None], list[tuple[datetime, datetime]]]:
    """[since, before) as whole UTC days [first, end) plus the cut days' parts as time ranges."""
    s = since.astimezone(UTC) if since else None
    b = before.astimezone(UTC) if before else None
    first = end = None
    parts: list[tuple[datetime, datetime]] = []
    if s is not None:
        first = s.date()
        if not _midnight(s):
            first += timedelta(days=1)
            parts.append((s, min(_day_start(first), b) if b else _day_start(first)))
    if b is not None:
        end = b.date()
        if not _midnight(b):
            cut = (max(_day_start(end), s) if s else _day_start(end), b)
            if cut not in parts:  # `since:` and `before:` on the same day: one part
                parts.append(cut)
    return (first, end), [(a, z) for a, z in parts if a < z]


def _midnight(at: datetime) -> bool:
    # the last day of the calendar counts as whole: there is no next day to start a part at
    return at.timetz() == time(tzinfo=UTC) or at.date() == date.max


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# Folds each day's rows into one (PostgreSQL appends a row per inserting statement). One statement,
# so it sees one snapshot: rows committed meanwhile are neither deleted nor lost. The advisory lock
# keeps two ingesters from folding at once (which would be correct, only wasted).
_COMPACT = """
WITH turn AS (SELECT pg_try_advisory_xact_lock(:key) AS ok),
     many AS (SELECT day FROM article_days WHERE (SELECT ok FROM turn) GROUP BY day HAVING count(*) > 1),
     gone AS (DELETE FROM article_days WHERE day IN (SELECT day FROM many) RETURNING day, min_id, max_id)
INSERT INTO article_days (day, min_id, max_id) SELECT day, min(min_id), max(max_id) FROM gone GROUP BY day
"""
COMPACT_LOCK_KEY = 0x6E657773_64617973  # "newsdays"


async def compact_article_days(session: AsyncSession) -> None:
    """PostgreSQL: one `article_days` row per day again (see migration 0007); SQLite keeps one anyway."""
    if session.get_bind().dialect.name != "sqlite":
        await session.execute(text(_COMPACT), {"key": COMPACT_LOCK_KEY})

