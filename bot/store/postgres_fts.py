"""Search on PostgreSQL: tsquery built from bound parameters, ranking bounded to the newest matches.

User words reach PostgreSQL only as values of `plainto_tsquery`/`phraseto_tsquery`, so no query
text is ever parsed as tsquery syntax.

"The newest `window` matches" is found one of two ways, whichever ANALYZE's statistics say is
cheaper (`_walk_span`):
- Common words: the newest rows are read one by one down the primary key, testing each tsvector,
  until `window` match. A GIN bitmap costs the whole posting list however narrow the id window
  (~0.1 s for a word in 40% of a million articles); a walk costs the rows it reads.
- Rarer words: a GIN index cannot be read in id order, so id windows: first the newest
  `window * 4` ids, widened as far as the matches seen so far predict (at most 16-fold a step)
  until enough are found or the window reaches the date bounds (`bot.store.search.id_bounds`).
  Each step is a bitmap AND of the GIN posting lists with the primary-key range, reading only
  the ids below the last step's.
Phrases: GIN keeps no positions, so each candidate's tsvector is read to check one. Candidates
are the rows holding all the words, newest first, and at most PHRASE_CHECKS of them are checked
(`_phrase_candidates`): an older match of a rare phrase is not found on PostgreSQL.
Only the candidates are scored with `ts_rank_cd`, and `ts_headline` runs on the returned page.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.query import Query, Term
from bot.store.search import HIGHLIGHT, PHRASE_CHECKS, SearchHit, display_title, id_bounds

CONFIG = "english"
FIRST_SPAN = 4  # the first id window is window * FIRST_SPAN ids
GROWTH = 16  # the most a window widens in one step
# Reading one row's tsvector to test it costs about this many GIN posting-list entries (measured at
# 100k and 1M articles: ~25 µs against ~0.25 µs, both on a busy machine).
WALK_COST = 100


def _term_sql(term: Term, params: dict[str, Any], loose: bool = False) -> str:
    name = f"t{len(params)}"
    params[name] = " ".join(term.words)
    fn = "phraseto_tsquery" if term.phrase and not loose else "plainto_tsquery"
    return f"{fn}('{CONFIG}', :{name})"


def tsquery_sql(q: Query, params: dict[str, Any], loose: bool = False) -> str | None:
    """SQL for the tsquery of the query's words, or None when it has none.

    `loose` asks for what the GIN index can answer without reading a row: each phrase becomes
    all of its words, and excluded phrases are left out. It matches every row the exact query
    matches, and more.
    """
    if not q.groups:
        return None
    groups = []
    for group in q.groups:
        alts = [_term_sql(t, params, loose) for t in group]
        groups.append(alts[0] if len(alts) == 1 else "(" + " || ".join(alts) + ")")
    expr = " && ".join(groups)
    for t in q.excluded:
        if not (loose and t.phrase):
            expr += f" && !!{_term_sql(t, params)}"
    return f"({expr})"


def has_phrase(q: Query) -> bool:
    return any(t.phrase for g in q.groups for t in g) or any(t.phrase for t in q.excluded)


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
# The row-by-row walk: the primary key backwards, never the GIN index.
_WALK_HINTS = {"enable_bitmapscan": "off", "enable_seqscan": "off"}


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
    """The ids of the newest `window` matches in (lo, hi], found in widening id windows (newest first).

    Each step reads only the ids below the last step's, so no row is checked twice.
    """
    span = window * FIRST_SPAN
    ids: list[int] = []
    top = hi
    while True:
        start = max(lo, hi - span)
        ids += [
            int(r[0])
            for r in (
                await session.execute(
                    text(
                        f"SELECT a.id FROM articles a WHERE a.id > :lo AND a.id <= :hi AND a.tsv @@ {tsq}{filters}"
                        " ORDER BY a.id DESC LIMIT :w"
                    ),
                    {**params, "lo": start, "hi": top, "w": window - len(ids)},
                )
            ).all()
        ]
        if len(ids) >= window or start <= lo:
            return ids
        top = start
        # Widen by what the matches seen so far predict, with room to spare: each step re-reads
        # the GIN posting lists.
        span *= min(GROWTH, max(2, math.ceil(1.5 * window / max(len(ids), 1))))


async def _phrase_candidates(
    session: AsyncSession, q: Query, filters: str, params: dict[str, Any], window: int, lo: int, hi: int
) -> list[int]:
    """The newest `window` matches of a query with phrases, among the newest PHRASE_CHECKS rows
    that hold all the words.

    The GIN index keeps no word positions, so PostgreSQL checks a phrase by reading each row's
    tsvector (TOASTed, ~4 KB): ~10-20 µs a row. The rows holding both words of "nato summit" are
    86,000 at 1M articles (the phrase is in 280), so checking them all takes seconds. Rows with
    all the words come from the index in id windows (the loose query), newest first; only those
    are checked, the window's worth first (a common phrase ends there), then as many as the
    phrase's share predicts, and the search stops after PHRASE_CHECKS rows: an older match of a
    rare phrase is not found on PostgreSQL.
    """
    loose = tsquery_sql(q, params, loose=True)
    strict = tsquery_sql(q, params)
    assert loose and strict
    found: list[int] = []
    checked = 0
    size = window
    while size > 0:
        ids = await _candidates(session, loose, filters, params, size, lo, hi)
        if ids:
            rows = await session.execute(
                text(f"SELECT a.id FROM articles a WHERE a.id = ANY(CAST(:ids AS bigint[])) AND a.tsv @@ {strict}"),
                {**params, "ids": ids},
            )
            found += sorted((int(r[0]) for r in rows), reverse=True)
            checked += len(ids)
        if len(found) >= window or len(ids) < size:  # enough, or no more rows with the words
            break
        hi = ids[-1] - 1
        # as many more rows as the phrase's share of them so far predicts, with room to spare
        size = min(PHRASE_CHECKS - checked, math.ceil(1.5 * (window - len(found)) * checked / max(len(found), 1)))
    return found[:window]


_STATS = """
WITH s AS (
  SELECT attname, most_common_elems::text::text[] AS e, most_common_elem_freqs AS f,
         most_common_vals::text::text[] AS v, most_common_freqs AS vf
  FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'articles'
    AND attname IN ('tsv', 'topic_list', 'outlet'))
SELECT
  (SELECT reltuples FROM pg_class WHERE oid = 'articles'::regclass) AS n,
  (SELECT min(x) FROM s, unnest(f) x WHERE attname = 'tsv') AS floor,
  (SELECT array_agg(coalesce(f[array_position(e, lex)], -1) ORDER BY k, lex)
     FROM s, unnest(CAST(:terms AS text[])) WITH ORDINALITY AS t(words, k),
          unnest(tsvector_to_array(to_tsvector('english', words))) AS lex WHERE attname = 'tsv') AS lexemes,
  (SELECT array_agg(k ORDER BY k, lex)
     FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS t(words, k),
          unnest(tsvector_to_array(to_tsvector('english', words))) AS lex) AS owners,
  (SELECT array_agg(coalesce(f[array_position(e, topic)], 0)) FROM s, unnest(CAST(:topics AS text[])) topic
     WHERE attname = 'topic_list') AS topics,
  (SELECT array_agg((SELECT coalesce(sum(vf[i]), 0) FROM generate_subscripts(v, 1) i WHERE lower(v[i]) LIKE src))
     FROM s, unnest(CAST(:sources AS text[])) src WHERE attname = 'outlet') AS sources
"""


async def _walk_span(session: AsyncSession, q: Query, window: int) -> int | None:
    """How many of the newest ids to read row by row to find `window` matches, when that is cheaper
    than reading the terms' GIN posting lists; None when it is not (or ANALYZE has not run yet).

    A GIN bitmap costs the length of every posting list however narrow the id window: ~0.1 s for
    a word in 40% of a million articles. Reading the newest rows and testing each tsvector costs
    the rows read, ~25 µs each: for a word that common, ~1,000 rows. The share of articles a query
    matches comes from ANALYZE's statistics (lexeme, topic and outlet frequencies), taking words
    as independent.
    """
    terms = [" ".join(t.words) for g in q.groups for t in g]
    owner = [i for i, g in enumerate(q.groups) for _ in g]
    sources = ["%" + s.replace("%", "").replace("_", "") + "%" for s in q.sources]
    row = (
        await session.execute(text(_STATS), {"terms": terms, "topics": list(q.topics), "sources": sources})
    ).one()
    if not row.n or row.n <= 0 or row.floor is None or row.lexemes is None:
        return None
    term_share = [1.0] * len(terms)
    seen = [False] * len(terms)
    for k, freq in zip(row.owners or [], row.lexemes, strict=False):
        share = freq if freq >= 0 else row.floor  # a lexeme missing from the statistics is rarer than all listed
        term_share[k - 1] = min(term_share[k - 1], share)
        seen[k - 1] = True
    term_share = [s if ok else 0.0 for s, ok in zip(term_share, seen, strict=True)]  # only stop words
    share = 1.0
    for i in range(len(q.groups)):
        share *= min(1.0, sum(s for s, o in zip(term_share, owner, strict=True) if o == i))
    for f in (row.topics or []) + (row.sources or []):
        share *= float(f)
    postings = sum(term_share) * row.n
    if share <= 0 or window / share * WALK_COST >= postings:
        return None
    return math.ceil(1.5 * window / share)


async def _walk(
    session: AsyncSession, tsq: str, filters: str, params: dict[str, Any], window: int, lo: int, hi: int
) -> list[int]:
    """The newest `window` matches in (lo, hi], reading rows newest first (primary key backwards)."""
    rows = await session.execute(
        text(
            f"SELECT a.id FROM articles a WHERE a.id > :lo AND a.id <= :hi AND a.tsv @@ {tsq}{filters}"
            " ORDER BY a.id DESC LIMIT :w"
        ),
        {**params, "lo": lo, "hi": hi, "w": window},
    )
    return [int(r[0]) for r in rows]


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
    lo, hi = bounds[0] - 1, bounds[1]
    ids: list[int] = []
    span = await _walk_span(session, q, window)
    if span is not None:
        previous = await _set_local(session, _WALK_HINTS)
        ids = await _walk(session, tsq, filters, params, window, max(lo, hi - span), hi)
        await _set_local(session, previous)
        if len(ids) < window:  # rarer than the statistics said: the index takes over below
            hi = max(lo, hi - span)
    if len(ids) < window and hi > lo:
        previous = await _set_local(session, _HINTS)
        if has_phrase(q):
            ids += await _phrase_candidates(session, q, filters, params, window - len(ids), lo, hi)
        else:
            ids += await _candidates(session, tsq, filters, params, window - len(ids), lo, hi)
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
