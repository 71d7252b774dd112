"""Search on PostgreSQL: tsquery built from bound parameters, ranking bounded to the newest matches.

User words reach PostgreSQL only as values of `plainto_tsquery`/`phraseto_tsquery`, so no query
text is ever parsed as tsquery syntax.

A GIN index cannot be read in id order, so "the newest `window` matches" is found in id windows:
first the newest `window * 4` ids, widened as far as the matches seen so far predict (at most
16-fold a step) until enough are found or the window reaches the `since:` bound (or the oldest
article). A small first window matters for phrases: every row in it that has the phrase's words is
rechecked against the positions in its tsvector. Each step is a bitmap AND of the GIN
posting list with the primary-key range, so only matching rows inside the range touch the heap.
Only those candidates are scored with `ts_rank_cd`, and `ts_headline` runs on the returned page.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.query import Query, Term
from bot.store.search import HIGHLIGHT, SearchHit, display_title, id_bounds

CONFIG = "english"
FIRST_SPAN = 4  # the first id window is window * FIRST_SPAN ids
GROWTH = 16  # the most a window widens in one step


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


COLS = "a.id, a.title, a.outlet, a.published_at, a.url, a.topics, substr(a.text, 1, 400) AS head"


# Bitmap AND of the GIN index and the id range, never a walk of the heap testing every row (the
# planner underrates detoasting each tsvector), and bitmaps large enough to stay exact, not lossy.
_HINTS = {"enable_indexscan": "off", "enable_seqscan": "off", "work_mem": "32MB"}


async def _set_local(session: AsyncSession, values: dict[str, str]) -> dict[str, str]:
    """Set planner settings for this transaction only; returns the previous values (one round trip)."""
    names = list(values)
    cols = ", ".join(f"current_setting(:n{i}) AS o{i}, set_config(:n{i}, :v{i}, true) AS s{i}" for i in range(len(names)))
    params = {f"n{i}": n for i, n in enumerate(names)} | {f"v{i}": values[n] for i, n in enumerate(names)}
    row = (await session.execute(text(f"SELECT {cols}"), params)).one()
    return {n: row[2 * i] for i, n in enumerate(names)}


async def _candidates(
    session: AsyncSession, tsq: str, filters: str, params: dict[str, Any], window: int, lo: int, hi: int
) -> list[int]:
    """The ids of the newest `window` matches, found in widening id windows (newest first)."""
    span = window * FIRST_SPAN
    while True:
        start = max(lo, hi - span)
        ids = [
            int(r[0])
            for r in (
                await session.execute(
                    text(
                        f"SELECT a.id FROM articles a WHERE a.id > :lo AND a.id <= :hi AND a.tsv @@ {tsq}{filters}"
                        " ORDER BY a.id DESC LIMIT :w"
                    ),
                    {**params, "lo": start, "hi": hi, "w": window},
                )
            ).all()
        ]
        if len(ids) >= window or start <= lo:
            return ids
        # Widen by what the matches seen so far predict, with room to spare: each step re-reads
        # the GIN posting lists, and a phrase rechecks every row of the range that has its words.
        span *= min(GROWTH, max(2, math.ceil(1.5 * window / max(len(ids), 1))))


async def search(session: AsyncSession, q: Query, *, limit: int, offset: int, window: int) -> list[SearchHit]:
    params: dict[str, Any] = {}
    tsq = tsquery_sql(q, params)
    filters = _filters(q, params)
    if tsq is None:
        sql = (
            f"SELECT {COLS}, 0.0 AS score, NULL AS snip FROM articles a WHERE true{filters}"
            " ORDER BY a.published_at DESC NULLS LAST, a.id DESC LIMIT :limit OFFSET :offset"
        )
        rows = (await session.execute(text(sql), {**params, "limit": limit, "offset": offset})).all()
        return [_hit(r) for r in rows]
    bounds = await id_bounds(session, q, {k: v for k, v in (("since", q.since), ("before", q.before)) if v})
    if bounds is None:
        return []
    previous = await _set_local(session, _HINTS)
    ids = await _candidates(session, tsq, filters, params, window, bounds[0] - 1, bounds[1])
    await _set_local(session, previous)  # (on an error the rollback undoes SET LOCAL anyway)
    if not ids:
        return []
    sql = (
        f"WITH q AS (SELECT {tsq} AS tsq),"
        " ranked AS ("
        f"  SELECT {COLS}, a.text, ts_rank_cd(a.tsv, q.tsq) AS score FROM articles a, q"
        "   WHERE a.id = ANY(CAST(:ids AS bigint[]))"
        "   ORDER BY score DESC, a.published_at DESC NULLS LAST, a.id DESC LIMIT :limit OFFSET :offset)"
        " SELECT r.id, r.title, r.outlet, r.published_at, r.url, r.topics, r.head, r.score,"
        f"  ts_headline('{CONFIG}', r.text, q.tsq,"
        f"   'StartSel={HIGHLIGHT[0]},StopSel={HIGHLIGHT[1]},MaxWords=35,MinWords=15,MaxFragments=1') AS snip"
        " FROM ranked r, q ORDER BY r.score DESC, r.published_at DESC NULLS LAST, r.id DESC"
    )
    rows = (await session.execute(text(sql), {**params, "ids": ids, "limit": limit, "offset": offset})).all()
    return [_hit(r) for r in rows]
