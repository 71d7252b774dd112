"""Full-text search of the archive, the same API on SQLite (FTS5) and PostgreSQL (tsvector).

Ranking is bounded: newsroom lookups want recent matches, so each backend first finds the newest
`window` matching articles (walking the index in id order, which follows arrival time) and ranks
only those by relevance, with recency breaking ties. Scoring every match of a common word in a
million articles is what makes naive full-text search slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.query import Query, parse_query

DEFAULT_WINDOW = 400
HIGHLIGHT = ("**", "**")


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
