"""Full-text search of the archive, the same API on SQLite (FTS5) and PostgreSQL (tsvector).

Ranking is bounded: newsroom lookups want recent matches, so each backend first finds the newest
`window` matching articles (walking the index in id order, which follows arrival time) and ranks
only those by relevance, with recency breaking ties. Scoring every match of a common word in a
million articles is what makes naive full-text search slow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.query import Query, Term, parse_query

DEFAULT_WINDOW = 400
# A query with a phrase is matched among the newest this many articles holding all the phrase's
# words (both backends): checking a phrase means reading word positions, which GIN does not keep.
PHRASE_CHECKS = 2_000
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


# A `since:` bound that costs more than this many index entries to find is left open: a range that
# large fills the window long before its start with a common word, and a word rare enough not to
# has a short posting list anyway.
RANGE_SCAN = 50_000
_NO_LIMIT = 2**62  # a LIMIT keeps each backend's planner walking the date index in order


async def id_bounds(session: AsyncSession, q: Query, params: dict[str, object]) -> tuple[int, int] | None:
    """The id range (inclusive) that can hold articles passing `since:`/`before:`; None if none can.

    The search walks the full-text index down from `hi`, so a `before:` far in the past starts
    where its articles are instead of reading and dropping every newer match. Ids follow arrival,
    not publication (late arrivals, backfilled feeds, revised dates), so both bounds are exact,
    never guessed from dates: `hi` is the largest id published before `before:`, `lo` the smallest
    published since `since:`. SQLite reads them from a per-day summary (`_day_bounds`). On
    PostgreSQL each is read from whichever side of its date is shorter, judged by
    the id of the first article published at the date (ids roughly follow dates):
    - the side the filter cuts off, walking the (id, published_at) index from the newest (oldest)
      id until the first row that passes: a recent `before:`, an old `since:`;
    - else the rows the filter keeps, on the published_at index: an old `before:`, a recent `since:`.
    A `before:` in the middle of the archive reads about half of an index (~60 ms at 1M articles);
    a `since:` bound costing more than RANGE_SCAN entries is left open instead.
    `params` holds "since"/"before" as the backend binds them (SQLite: text; PostgreSQL: datetime).
    """
    if session.get_bind().dialect.name == "sqlite":
        return await _day_bounds(session, q, params)
    at = "(SELECT id FROM articles WHERE published_at >= :{0} ORDER BY published_at ASC NULLS FIRST LIMIT 1)"
    cols = ["(SELECT min(id) FROM articles)", "(SELECT max(id) FROM articles)"]
    cols += [at.format(k) if getattr(q, k) else "NULL" for k in ("before", "since")]
    first, last, at_before, at_since = (await session.execute(text("SELECT " + ", ".join(cols)), params)).one()
    if first is None or (q.since and at_since is None):
        return None
    lo, hi = int(first), int(last)
    dates = " AND ".join(
        [*(["published_at >= :since"] if q.since else []), *(["published_at < :before"] if q.before else [])]
    )
    kept = f"(SELECT id FROM articles WHERE {dates} ORDER BY published_at DESC NULLS LAST LIMIT :n) s"
    walk_cost = 1.0
    if q.before and at_before is not None:
        if (hi - at_before) * walk_cost <= at_before - lo:  # few articles since the date: walk down past them
            found = await _scalar(
                session, "SELECT id FROM articles WHERE published_at < :before ORDER BY id DESC LIMIT 1", params
            )
        else:  # also the lowest id in range, so a `since:` in this range costs nothing more
            row = (await session.execute(text(f"SELECT max(id), min(id) FROM {kept}"), {**params, "n": _NO_LIMIT})).one()
            found = None if row[0] is None else int(row[0])
            lo = lo if row[1] is None else int(row[1])
            at_since = None  # that min is exact for `since:` too
        if found is None:
            return None
        hi = found
    if q.since and at_since is not None:
        if (at_since - lo) * walk_cost <= min(hi - at_since, RANGE_SCAN):  # few articles before the date: walk up past them
            found = await _scalar(
                session, "SELECT id FROM articles WHERE published_at >= :since ORDER BY id ASC LIMIT 1", params
            )
            if found is None:
                return None
            lo = found
        elif hi - at_since <= RANGE_SCAN:
            found = await _scalar(session, f"SELECT min(id) FROM {kept}", {**params, "n": _NO_LIMIT})
            if found is None:
                return None
            lo = found
    return (lo, hi) if lo <= hi else None


async def _day_bounds(session: AsyncSession, q: Query, params: dict[str, object]) -> tuple[int, int] | None:
    """SQLite: the id range from `article_days` (migration 0007), one read of a table of days.

    A day's range only ever widens, so the bounds may hold a few ids more than the exact ones
    (a revised date, a deleted article, the rest of the `since:` day), never fewer; the search
    checks each row's date anyway. A `before:` at midnight, as a typed date is, is exact.
    """
    conds: list[str] = []
    bind: dict[str, object] = {}
    if q.since:
        conds.append("day >= :since_day")
        bind["since_day"] = str(params["since"])[:10]
    if q.before:
        stamp = str(params["before"])
        day = stamp[:10]
        if stamp[10:].strip(" 0:."):  # not midnight: that day's earlier hours count too
            day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        conds.append("day < :before_day")
        bind["before_day"] = day
    row = (
        await session.execute(text("SELECT min(min_id), max(max_id) FROM article_days WHERE " + " AND ".join(conds)), bind)
    ).one()
    if row[0] is None:
        return None
    return int(row[0]), int(row[1])


async def _scalar(session: AsyncSession, sql: str, params: dict[str, object]) -> int | None:
    value = (await session.execute(text(sql), params)).scalar()
    return None if value is None else int(value)


async def search(
    session: AsyncSession,
    query: str | Query,
    *,
    limit: int = 10,
    offset: int = 0,
    window: int = DEFAULT_WINDOW,
) -> SearchPage:
    q = parse_query(query) if isinstance(query, str) else query
    limit = max(1, min(limit, 100))
    offset = max(0, offset)
    if session.get_bind().dialect.name == "sqlite":
        from bot.store import sqlite_fts as backend
    else:
        from bot.store import postgres_fts as backend  # type: ignore[no-redef]
    hits = await backend.search(session, q, limit=limit + 1, offset=offset, window=max(window, offset + limit + 1))
    return SearchPage(query=q, hits=tuple(hits[:limit]), offset=offset, has_more=len(hits) > limit)
