"""Search on PostgreSQL: tsquery built from bound parameters, ranking bounded to the newest matches.

User words reach PostgreSQL only as values of `plainto_tsquery`/`phraseto_tsquery`, so no query
text is ever parsed as tsquery syntax.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.query import Query, Term
from bot.store.search import HIGHLIGHT, SearchHit, display_title

CONFIG = "english"


def _term_sql(term: Term, params: dict[str, Any]) -> str:
    name = f"t{len(params)}"
    params[name] = " ".join(term.words)
    fn = "phraseto_tsquery" if term.phrase else "plainto_tsquery"
    return f"{fn}('{CONFIG}', :{name})"


def tsquery_sql(q: Query, params: dict[str, Any]) -> str | None:
    """SQL for the tsquery of the query's words, or None when it has none."""
    if not q.groups:
        return None
    groups = []
    for group in q.groups:
        alts = [_term_sql(t, params) for t in group]
        groups.append(alts[0] if len(alts) == 1 else "(" + " || ".join(alts) + ")")
    expr = " && ".join(groups)
    for t in q.excluded:
        expr += f" && !!{_term_sql(t, params)}"
    return f"({expr})"


def _filters(q: Query, params: dict[str, Any]) -> str:
    sql = ""
    if q.topics:
        sql += " AND a.topic_list @> CAST(:topics AS text[])"
        params["topics"] = list(q.topics)
    for i, s in enumerate(q.sources):
        sql += f" AND lower(coalesce(a.outlet, '')) LIKE :src{i}"
        params[f"src{i}"] = "%" + s.replace("%", "").replace("_", "") + "%"
    if q.since:
        sql += " AND a.published_at >= :since"
        params["since"] = q.since
    if q.before:
        sql += " AND a.published_at < :before"
        params["before"] = q.before
    if q.excluded and not q.groups:
        ex = " || ".join(_term_sql(t, params) for t in q.excluded)
        sql += f" AND NOT (a.tsv @@ ({ex}))"
    return sql


def _hit(row: Any) -> SearchHit:
    return SearchHit(
        id=row.id,
        title=display_title(row.title, row.head or ""),
        outlet=row.outlet,
        published=row.published_at,
        url=row.url,
        snippet=row.snip if row.snip is not None else (row.head or "")[:240],
        topics=tuple((row.topics or "").split()),
        score=float(row.score or 0.0),
    )


async def search(session: AsyncSession, q: Query, *, limit: int, offset: int, window: int) -> list[SearchHit]:
    params: dict[str, Any] = {}
    tsq = tsquery_sql(q, params)
    filters = _filters(q, params)
    params.update(limit=limit, offset=offset, w=window)
    cols = "a.id, a.title, a.outlet, a.published_at, a.url, a.topics, substr(a.text, 1, 400) AS head"
    if tsq is None:
        sql = (
            f"SELECT {cols}, 0.0 AS score, NULL AS snip FROM articles a WHERE true{filters}"
            " ORDER BY coalesce(a.published_at, a.first_seen_at) DESC, a.id DESC LIMIT :limit OFFSET :offset"
        )
        return [_hit(r) for r in (await session.execute(text(sql), params)).all()]
    # The CTE is materialised: the newest `window` matches by id, then only those are scored.
    sql = (
        f"WITH q AS (SELECT {tsq} AS tsq),"
        " recent AS MATERIALIZED ("
        f"  SELECT a.id FROM articles a, q WHERE a.tsv @@ q.tsq{filters} ORDER BY a.id DESC LIMIT :w),"
        " ranked AS ("
        f"  SELECT {cols}, a.text, ts_rank_cd(a.tsv, q.tsq) AS score FROM articles a JOIN recent USING (id), q"
        "   ORDER BY score DESC, a.published_at DESC NULLS LAST, a.id DESC LIMIT :limit OFFSET :offset)"
        " SELECT r.id, r.title, r.outlet, r.published_at, r.url, r.topics, r.head, r.score,"
        f"  ts_headline('{CONFIG}', r.text, q.tsq,"
        f"   'StartSel={HIGHLIGHT[0]},StopSel={HIGHLIGHT[1]},MaxWords=35,MinWords=15,MaxFragments=1') AS snip"
        " FROM ranked r, q ORDER BY r.score DESC, r.published_at DESC NULLS LAST, r.id DESC"
    )
    return [_hit(r) for r in (await session.execute(text(sql), params)).all()]
