"""Full-text search of the archive, the same API on SQLite (FTS5) and PostgreSQL (tsvector).

`search()` picks the backend by dialect; the backends share `common` (hits, snippets, date
bounds) and `query` (the search language), and never import this facade.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.search import postgres, sqlite
from bot.store.search.common import DEFAULT_WINDOW, SearchHit, SearchPage, compact_article_days, display_title
from bot.store.search.query import Query, QueryError, parse_query

__all__ = [
    "Query",
    "QueryError",
    "SearchHit",
    "SearchPage",
    "compact_article_days",
    "display_title",
    "parse_query",
    "search",
]


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
    backend = sqlite if session.get_bind().dialect.name == "sqlite" else postgres
    hits = await backend.search(session, q, limit=limit + 1, offset=offset, window=max(window, offset + limit + 1))
    return SearchPage(query=q, hits=tuple(hits[:limit]), offset=offset, has_more=len(hits) > limit)
