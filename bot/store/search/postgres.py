"""Search on PostgreSQL: tsquery built from bound parameters, ranking bounded to the newest matches.

User words reach PostgreSQL only as values of `plainto_tsquery`/`phraseto_tsquery`, so no query
text is ever parsed as tsquery syntax.

"The newest `window` matches" is found one of two ways, whichever ANALYZE's statistics say is
cheaper (`_share`):
- Common words: the newest rows are read one by one down the primary key, testing each tsvector,
  until `window` match. A GIN bitmap costs the whole posting list however narrow the id window
  (~0.1 s for a word in 40% of a million articles); a walk costs the rows it reads.
- Rarer words: a GIN index cannot be read in id order, so id windows: first the newest
  `window * 4` ids, widened as far as the matches seen so far predict (at most 16-fold a step)
  until enough are found or the window reaches the date bounds (`common.id_bounds`).
  Each step is a bitmap AND of the GIN posting lists with the primary-key range, reading only
  the ids below the last step's.
Phrases: GIN keeps no positions, so the index answers a phrase from `tsv_pairs`, each article's
adjacent lexeme pairs (migration 0012): "nato summit" reads the posting list of the pair
"nato summit", not those of both words (86,000 rows at 1M articles for a phrase in 280). A
two-word phrase is exactly its pair; longer phrases and exclusions are checked against the exact
tsquery on the rows the indexes find, so a phrase finds the same rows as on SQLite, however old.
Words are indexed by the `newsbot` text search configuration (0012): Porter stems and no stop
words, as FTS5's `porter unicode61`.
Only the candidates are scored with `ts_rank_cd`; snippets come from `common.snippet`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.search.common import SearchHit, display_title, id_bounds, snippet
from bot.store.search.query import Query, Term

CONFIG = "newsbot"  # migration 0012: the words FTS5 indexes, stemmed as FTS5 stems them
Cand = tuple[int, float, "datetime | None"]  # (id, ts_rank_cd score, published_at) of a candidate
FIRST_SPAN = 4  # the first id window is window * FIRST_SPAN ids
GROWTH = 16  # the most a window widens in one step
# Reading one row's tsvector to test it costs about this many GIN posting-list entries (measured at
# 1M articles on a busy machine: ~27 µs a row walked, ~0.12 µs a posting read).
WALK_COST = 200


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


def match_sql(q: Query, tsq: str, params: dict[str, Any]) -> str:
    """The condition for a query with phrases, answered from the indexes: each phrase's adjacent
    lexeme pairs (`tsv_pairs`), each word's lexeme (`tsv`), ANDed over the groups. For two-word
    phrases it is exactly `tsv @@ tsq`, without reading a row's tsvector; longer phrases and
    exclusions are then checked against `tsq` on the rows the indexes found."""
    groups = []
    for group in q.groups:
        alts = []
        for t in group:
            name = f"t{len(params)}"
            params[name] = " ".join(t.words)
            if t.phrase:
                # a "phrase" of fewer than two lexemes (words the parser drops) has no pair: its
                # words then (a constant condition, folded away when planned for its values)
                pairs = f"newsbot_pairs(to_tsvector('{CONFIG}', :{name}))"
                alts.append(
                    f"(a.tsv_pairs @> {pairs} OR (cardinality({pairs}) = 0"
                    f" AND a.tsv @@ plainto_tsquery('{CONFIG}', :{name})))"
                )
            else:
                alts.append(f"a.tsv @@ plainto_tsquery('{CONFIG}', :{name})")
        groups.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    if any(len(t.words) > 2 for g in q.groups for t in g) or q.excluded:
        # pairs all present are not one run of three words; exclusions read the row's tsvector
        groups.append(f"(a.tsv @@ {tsq}) IS TRUE")  # IS TRUE: checked on the rows, never an index
    return " AND ".join(groups)


_OUTLETS = """
WITH RECURSIVE o(v) AS (
  (SELECT outlet FROM articles WHERE outlet IS NOT NULL ORDER BY outlet LIMIT 1)
  UNION ALL
  SELECT (SELECT outlet FROM articles WHERE outlet > o.v ORDER BY outlet LIMIT 1) FROM o WHERE o.v IS NOT NULL)
SELECT v FROM o WHERE v IS NOT NULL
"""


async def _outlets(session: AsyncSession, q: Query) -> list[list[str]]:
    """For each `source:` value, the outlet names containing it (case-insensitively).

    Read from the (outlet, id) index one distinct name at a time (a few dozen index probes), so
    the search can filter by equality, which that index answers, instead of testing a pattern
    against the outlet of every article its words match.
    """
    if not q.sources:
        return []
    names = [str(r[0]) for r in await session.execute(text(_OUTLETS))]
    return [[n for n in names if s in n.lower()] for s in q.sources]


def _filters(q: Query, params: dict[str, Any], outlets: list[list[str]]) -> str:
    sql = ""
    if q.topics:
        # With words, the topic is checked on the rows the words find (a small inline array), not
        # ANDed from its GIN index: a topic's posting list is a third of the archive (~0.15 s at 1M).
        check = "a.topic_list @> CAST(:topics AS text[])"
        sql += f" AND {check}" if not q.groups else f" AND ({check}) IS TRUE"
        params["topics"] = list(q.topics)
    for i, names in enumerate(outlets):
        sql += f" AND a.outlet = ANY(CAST(:src{i} AS text[]))"
        params[f"src{i}"] = names
    # With words, the dates are checked on the rows the words find, inside the id range the dates
    # already bound (`id_bounds`): as an index condition the planner would rather read the date
    # index than GIN and test every row's tsvector in the range (`since:30d`: 27,000 rows, 100 ms).
    for k, op, at in (("since", ">=", q.since), ("before", "<", q.before)):
        if at:
            check = f"a.published_at {op} :{k}"
            sql += f" AND {check}" if not q.groups else f" AND ({check}) IS TRUE"
            params[k] = at
    if q.excluded and not q.groups:
        ex = " || ".join(_term_sql(t, params) for t in q.excluded)
        sql += f" AND NOT (a.tsv @@ ({ex}))"
    return sql


def _hit(row: Any, snip: str | None = None, score: float = 0.0) -> SearchHit:
    return SearchHit(
        id=row.id,
        title=display_title(row.title, row.head or ""),
        outlet=row.outlet,
        published=row.published_at,
        url=row.url,
        snippet=snip or (row.head or "")[:240],
        topics=tuple((row.topics or "").split()),
        score=score,
    )


COLS = "a.id, a.title, a.outlet, a.published_at, a.url, a.topics, substr(a.text, 1, 400) AS head"


# Bitmap AND of the GIN index and the id range, never a walk of the heap testing every row (the
# planner underrates detoasting each tsvector), and bitmaps large enough to stay exact, not lossy.
# Statements whose best plan depends on the values are planned for their own values: asyncpg
# prepares statements, and after five runs PostgreSQL may switch to a generic plan, which for the
# words reads every row in the id range testing its tsvector (6-21 s for a word in no article at
# 1M), and for dates walks the wrong index (`since:7d` bounds: ~0.1 s). Not for every statement:
# planning the statistics lookup and the ranking each time costs more than it saves.
_CUSTOM_PLANS = {"plan_cache_mode": "force_custom_plan"}
_HINTS = {"enable_indexscan": "off", "enable_seqscan": "off", "work_mem": "32MB"} | _CUSTOM_PLANS
# The row-by-row walk: the primary key backwards, never the GIN index.
_WALK_HINTS = {"enable_bitmapscan": "off", "enable_seqscan": "off"} | _CUSTOM_PLANS


async def _set_local(session: AsyncSession, values: dict[str, str]) -> dict[str, str]:
    """Set planner settings for this transaction only; returns the previous values (one round trip)."""
    names = list(values)
    cols = ", ".join(f"current_setting(:n{i}) AS o{i}, set_config(:n{i}, :v{i}, true) AS s{i}" for i in range(len(names)))
    params = {f"n{i}": n for i, n in enumerate(names)} | {f"v{i}": values[n] for i, n in enumerate(names)}
    row = (await session.execute(text(f"SELECT {cols}"), params)).one()
    return {n: row[2 * i] for i, n in enumerate(names)}


async def _candidates(
    session: AsyncSession,
    tsq: str,
    filters: str,
    params: dict[str, Any],
    window: int,
    lo: int,
    hi: int,
    span: int | None = None,
    postings: float | None = None,
    score: bool = True,
    match: str | None = None,
) -> list[Cand]:
    """The newest `window` matches in (lo, hi], found in widening id windows (newest first).

    `span` is the first window's width when the statistics can predict it (each step re-reads the
    GIN posting lists, so one well-sized step beats several small ones). Each step reads only the
    ids below the last step's, so no row is checked twice. A window wider than the words' posting
    lists (`postings`, estimated) is not read from the primary key at all: its bitmap would cost
    more than the matches, so the rest of the range is one step, the ids checked on the rows
    (a rare word: ~0.1 s saved at 1M articles against ANDing a 400,000-id range).
    `match` (see `match_sql`) replaces the condition `a.tsv @@ tsq`.
    """
    span = span or window * FIRST_SPAN
    ids: list[Cand] = []
    rank = f"ts_rank_cd(a.tsv, {tsq})" if score else "0.0"
    match = match or f"a.tsv @@ {tsq}"
    top = hi
    while True:
        start = max(lo, hi - span)
        by_key = postings is None or top - start < postings
        if not by_key:
            start = lo
        col = "a.id" if by_key else "(a.id + 0)"  # + 0: not an index condition
        ids += [
            (int(r[0]), float(r[1]), r[2])
            for r in (
                await session.execute(
                    # scored outside the LIMIT: inside, every match in the window would be
                    # scored (its tsvector read) before the sort keeps the newest
                    text(
                        f"SELECT a.id, {rank}, a.published_at FROM (SELECT a.id, a.tsv, a.published_at"
                        f" FROM articles a WHERE {col} > :lo AND {col} <= :hi{filters} AND {match}"
                        " ORDER BY a.id DESC LIMIT :w) a"
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
          unnest(tsvector_to_array(to_tsvector('newsbot', words))) AS lex WHERE attname = 'tsv') AS lexemes,
  (SELECT array_agg(k ORDER BY k, lex)
     FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS t(words, k),
          unnest(tsvector_to_array(to_tsvector('newsbot', words))) AS lex) AS owners,
  (SELECT array_agg(coalesce(f[array_position(e, topic)], 0)) FROM s, unnest(CAST(:topics AS text[])) topic
     WHERE attname = 'topic_list') AS topics,
  (SELECT array_agg((SELECT coalesce(sum(vf[i]), 0) FROM generate_subscripts(v, 1) i WHERE lower(v[i]) LIKE src))
     FROM s, unnest(CAST(:sources AS text[])) src WHERE attname = 'outlet') AS sources
"""


async def _share(session: AsyncSession, q: Query) -> tuple[float, float] | None:
    """(share of articles the query's words and filters match, total length of the words' posting
    lists), from ANALYZE's statistics (lexeme, topic and outlet
    frequencies, separate words taken as independent); None before the first ANALYZE. Phrases count as
    all their words. A lexeme missing from the statistics is taken as rare as the rarest listed.
    """
    terms = [" ".join(t.words) for g in q.groups for t in g]
    owner = [i for i, g in enumerate(q.groups) for _ in g]
    sources = ["%" + s.replace("%", "").replace("_", "") + "%" for s in q.sources]
    row = (
        await session.execute(text(_STATS), {"terms": terms, "topics": list(q.topics), "sources": sources})
    ).one()
    if not row.n or row.n <= 0 or not row.floor or row.lexemes is None:
        return None
    term_share = [0.0] * len(terms)  # a term of stop words only matches nothing
    postings = 0.0
    for k, freq in zip(row.owners or [], row.lexemes, strict=False):
        lexeme = freq if freq >= 0 else row.floor
        # the words of a phrase come together: the rarest one's share, not their product
        term_share[k - 1] = lexeme if term_share[k - 1] == 0.0 else min(term_share[k - 1], lexeme)
        postings += lexeme
    share = 1.0
    for i in range(len(q.groups)):
        share *= min(1.0, sum(s for s, o in zip(term_share, owner, strict=True) if o == i))
    for f in (row.topics or []) + (row.sources or []):
        share *= float(f)
    return share, postings * float(row.n)


async def _walk(
    session: AsyncSession, tsq: str, filters: str, params: dict[str, Any], window: int, lo: int, hi: int
) -> list[Cand]:
    """The newest `window` matches in (lo, hi], reading rows newest first (primary key backwards),
    scored on the way (the tsvector is read once, not again to rank)."""
    rows = await session.execute(
        text(
            f"SELECT a.id, ts_rank_cd(a.tsv, {tsq}), a.published_at FROM articles a"
            # the filters first: a row failing a date is dropped before its tsvector is read (a
            # `before:` range's newest rows are mostly late arrivals published after it)
            f" WHERE a.id > :lo AND a.id <= :hi{filters} AND a.tsv @@ {tsq} ORDER BY a.id DESC LIMIT :w"
        ),
        {**params, "lo": lo, "hi": hi, "w": window},
    )
    return [(int(r[0]), float(r[1]), r[2]) for r in rows]


async def search(session: AsyncSession, q: Query, *, limit: int, offset: int, window: int) -> list[SearchHit]:
    params: dict[str, Any] = {}
    tsq = tsquery_sql(q, params)
    filters = _filters(q, params, await _outlets(session, q))
    if tsq is None:
        sql = (
            f"SELECT {COLS}, 0.0 AS score FROM articles a WHERE true{filters}"
            " ORDER BY a.published_at DESC NULLS LAST, a.id DESC LIMIT :limit OFFSET :offset"
        )
        previous = await _set_local(session, _CUSTOM_PLANS)
        rows = (await session.execute(text(sql), {**params, "limit": limit, "offset": offset})).all()
        await _set_local(session, previous)
        return [_hit(r) for r in rows]
    bounds: tuple[int, int] | None = (0, 0)
    if q.since or q.before:
        bounds = await id_bounds(session, q)
    else:
        ends = (await session.execute(text("SELECT min(id), max(id) FROM articles"))).one()
        bounds = None if ends[0] is None else (int(ends[0]), int(ends[1]))
    if bounds is None:
        return []
    lo, hi = bounds[0] - 1, bounds[1]
    ids: list[Cand] = []
    share, postings = await _share(session, q) or (0.0, 0.0)
    phrase = any(t.phrase for g in q.groups for t in g)
    if share > 0 and window / share * WALK_COST < postings:
        # Common words: reading the newest rows costs less than reading the posting lists. A
        # second, longer walk if the first fell short (dates or filters thinning the rows), for a
        # phrase only if it is nearly as common as its words (only their share is known): a rarer
        # one is read from its pairs' posting list below.
        previous = await _set_local(session, _WALK_HINTS)
        span = math.ceil(2 * window / share)
        first_span = span
        for _ in range(2):
            start = max(lo, hi - span)
            ids += await _walk(session, tsq, filters, params, window - len(ids), start, hi)
            hi = start
            if len(ids) >= window or hi <= lo:
                break
            span = math.ceil(2 * (window - len(ids)) * span / max(len(ids), 1))
            if phrase and span > 2 * first_span:
                break
        await _set_local(session, previous)
    if len(ids) < window and hi > lo:
        previous = await _set_local(session, _HINTS)
        first = math.ceil(1.5 * (window - len(ids)) / share) if share > 0 else None
        if phrase:
            # The pairs' posting lists, in widening id windows as for words. A phrase is rarer than
            # its words (`share` is its rarest word's), so its list is taken as the words' average.
            words = sum(len(t.words) for g in q.groups for t in g)
            ids += await _candidates(
                session, tsq, filters, params, window - len(ids), lo, hi, first, postings / words or None,
                match=match_sql(q, tsq, params),
            )
        else:
            ids += await _candidates(session, tsq, filters, params, window - len(ids), lo, hi, first, postings or None)
        await _set_local(session, previous)  # (on an error the rollback undoes SET LOCAL anyway)
    if not ids:
        return []
    # Best score first; among equals the newest published (undated last), then the newest id.
    by_date = sorted(ids, key=lambda c: (c[2] is not None, c[2].timestamp() if c[2] else 0.0, c[0]), reverse=True)
    page = sorted(by_date, key=lambda c: -c[1])[offset : offset + limit]
    if not page:
        return []
    rows = (
        await session.execute(
            text(f"SELECT {COLS}, a.text FROM articles a WHERE a.id = ANY(CAST(:ids AS bigint[]))"),
            {"ids": [c[0] for c in page]},
        )
    ).all()
    by_id = {r.id: r for r in rows}
    return [_hit(by_id[c[0]], snippet(q, by_id[c[0]].text or ""), c[1]) for c in page if c[0] in by_id]
