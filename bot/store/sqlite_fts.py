"""Search on SQLite FTS5: every term quoted, ranking bounded to the newest matches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import sqlite_time
from bot.store.query import Query, Term
from bot.store.search import HIGHLIGHT, SearchHit, display_title


def _quote(term: Term) -> str:
    # Only \w characters reach here (see query.py); quoting makes each a literal string for FTS5.
    return '"' + " ".join(w.replace('"', '""') for w in term.words) + '"'


def match_expression(q: Query) -> str | None:
    """The FTS5 MATCH string for the query's positive part, or None when it has none."""
    parts: list[str] = []
    for group in q.groups:
        alts = [_quote(t) for t in group]
        inner = alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")"
        parts.append("{title text} : " + inner)
    parts += ["topics : " + _quote(Term((t,))) for t in q.topics]
    parts += ["outlet : " + _quote(Term(tuple(s.split()))) for s in q.sources]
    if not parts:
        return None
    expr = " AND ".join(parts)
    for t in q.excluded:
        expr += " NOT {title text} : " + _quote(t)
    return expr


def exclusion_expression(q: Query) -> str | None:
    if not q.excluded:
        return None
    return " OR ".join("{title text} : " + _quote(t) for t in q.excluded)


def _date_filters(q: Query, params: dict[str, Any], col: str = "a.published_at") -> str:
    sql = ""
    if q.since:
        sql += f" AND {col} >= :since"
        params["since"] = sqlite_time(q.since)
    if q.before:
        sql += f" AND {col} < :before"
        params["before"] = sqlite_time(q.before)
    return sql


def _hit(row: Any, snippet: str | None = None) -> SearchHit:
    return SearchHit(
        id=row.id,
        title=display_title(row.title, row.head or ""),
        outlet=row.outlet,
        published=_parse_time(row.published_at),
        url=row.url,
        snippet=snippet if snippet is not None else (row.head or "")[:240],
        topics=tuple((row.topics or "").split()),
        score=float(getattr(row, "score", 0.0) or 0.0),
    )


def _parse_time(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


async def search(session: AsyncSession, q: Query, *, limit: int, offset: int, window: int) -> list[SearchHit]:
    match = match_expression(q)
    if match is None:
        return await _recent(session, q, limit=limit, offset=offset)
    params: dict[str, Any] = {"m": match}
    dates = _date_filters(q, params)
    lo = ""
    if q.since:
        # Articles arrive roughly in date order: the smallest id published since then bounds the walk.
        first = (
            await session.execute(
                text("SELECT min(id) FROM articles WHERE published_at >= :since"), {"since": params["since"]}
            )
        ).scalar()
        if first is None:
            return []
        lo = " AND articles_fts.rowid >= :lo"
        params["lo"] = first
    join = " JOIN articles a ON a.id = articles_fts.rowid" if dates else ""
    cut_row = (
        await session.execute(
            text(
                f"SELECT articles_fts.rowid FROM articles_fts{join} WHERE articles_fts MATCH :m{lo}{dates}"
                " ORDER BY articles_fts.rowid DESC LIMIT 1 OFFSET :w"
            ),
            {**params, "w": window - 1},
        )
    ).first()
    bound = ""
    if cut_row is not None:
        bound = " AND articles_fts.rowid >= :cut"
        params["cut"] = cut_row[0]
    has_terms = q.has_terms
    order = "score, a.published_at DESC, a.id DESC" if has_terms else "a.published_at DESC, a.id DESC"
    rows = (
        await session.execute(
            text(
                "SELECT a.id, a.title, a.outlet, a.published_at, a.url, a.topics, substr(a.text, 1, 400) AS head,"
                " bm25(articles_fts, 4.0, 1.0, 0.0, 0.0) AS score,"
                f" snippet(articles_fts, 1, '{HIGHLIGHT[0]}', '{HIGHLIGHT[1]}', '…', 32) AS snip"
                " FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
                f" WHERE articles_fts MATCH :m{lo}{bound}{dates}"
                f" ORDER BY {order} LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": limit, "offset": offset},
        )
    ).all()
    return [_hit(r, r.snip if has_terms else None) for r in rows]


async def _recent(session: AsyncSession, q: Query, *, limit: int, offset: int) -> list[SearchHit]:
    """Filters with no words (`since:24h`, `-trump`): the newest articles that pass them."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = "1=1" + _date_filters(q, params)
    excl = exclusion_expression(q)
    if excl:
        where += " AND a.id NOT IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :x)"
        params["x"] = excl
    rows = (
        await session.execute(
            text(
                "SELECT a.id, a.title, a.outlet, a.published_at, a.url, a.topics, substr(a.text, 1, 400) AS head"
                f" FROM articles a WHERE {where}"
                " ORDER BY coalesce(a.published_at, a.first_seen_at) DESC, a.id DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        )
    ).all()
    return [_hit(r) for r in rows]
