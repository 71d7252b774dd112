"""Search on SQLite FTS5: every term quoted, ranking bounded to the newest matches.

Three steps, each bounded whatever the archive's size:
1. Walk the FTS5 index newest-first (rowid order follows arrival) and keep the newest `window`
   matches. `since:` and `before:` become a rowid range first (the smallest id published since,
   the largest published before), so a date filter never walks the doclist outside its dates.
2. Score those candidates here, BM25-style over the window (title counts 4x the body). FTS5's own
   `bm25()` is not used: it counts the matching rows of every phrase over the whole index on each
   query, which for a common phrase costs far more than the window's own scoring.
3. Build snippets for the returned page only, from the text step 1 read (see `snippet`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import sqlite_time
from bot.store.search.common import SearchHit, display_title, id_bounds, snippet
from bot.store.search.common import stem as _stem
from bot.store.search.query import Query, Term

TITLE_WEIGHT = 4.0
K1 = 1.2
B = 0.75


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


def _parse_time(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


# ------------------------------------------------------------------------------------ scoring


def _needle(term: Term) -> str:
    # The last word keeps only its stem: "white house" also counts "white houses".
    return " ".join([*term.words[:-1], _stem(term.words[-1])]).lower()


def score_window(q: Query, docs: list[tuple[str, str]]) -> list[float]:
    """BM25 over the candidate window: (title, text) pairs in, one score each out (higher is better).

    Term frequencies are substring counts of each term's stem in the lower-cased text (plain
    `str.count`, ~1 µs a document: Python regexes cost ~100x more and dominated the query).
    IDF is taken over the window itself: among the newest matches, a term that few of them contain
    counts for more (what matters for OR groups and several words). Every candidate matched the
    query, so a single-term group counts at least once even when punctuation hides it from `count`.
    """
    groups = [[_needle(t) for t in g] for g in q.groups]
    if not groups or not docs:
        return [0.0] * len(docs)
    needles = [n for g in groups for n in g]
    floor = [len(g) == 1 for g in groups for _ in g]
    lowered = [(title.lower(), body.lower()) for title, body in docs]
    lengths = [body.count(" ") + 1 + TITLE_WEIGHT * (title.count(" ") + 1) for title, body in lowered]
    avg = sum(lengths) / len(lengths) or 1.0
    counts = [
        [max(int(f), TITLE_WEIGHT * title.count(n) + body.count(n)) for n, f in zip(needles, floor, strict=True)]
        for title, body in lowered
    ]
    n_docs = len(docs)
    idf = []
    for i in range(len(needles)):
        df = sum(1 for c in counts if c[i] > 0)
        idf.append(math.log(1 + (n_docs - df + 0.5) / (df + 0.5)))
    scores = []
    for c, length in zip(counts, lengths, strict=True):
        norm = K1 * (1 - B + B * length / avg)
        scores.append(sum(w * tf * (K1 + 1) / (tf + norm) for w, tf in zip(idf, c, strict=True) if tf))
    return scores


# ------------------------------------------------------------------------------------- search


async def search(session: AsyncSession, q: Query, *, limit: int, offset: int, window: int) -> list[SearchHit]:
    match = match_expression(q)
    if match is None or not (q.groups or q.sources):
        return await _recent(session, q, limit=limit, offset=offset)
    params: dict[str, Any] = {"m": match}
    dates = _date_filters(q, params)
    span = ""  # the id range the date filters allow: FTS5 walks only that part of each doclist
    if q.since or q.before:
        bounds = await id_bounds(session, q)
        if bounds is None:
            return []
        span = " AND articles_fts.rowid BETWEEN :lo AND :hi"
        params["lo"], params["hi"] = bounds
    has_terms = q.has_terms
    body = "a.text" if has_terms else "substr(a.text, 1, 400)"
    rows = (
        await session.execute(
            text(
                f"SELECT a.id, a.title, a.outlet, a.published_at, a.url, a.topics, {body} AS body"
                " FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
                f" WHERE articles_fts MATCH :m{span}{dates}"
                " ORDER BY articles_fts.rowid DESC LIMIT :w"
            ),
            {**params, "w": window},
        )
    ).all()
    if not rows:
        return []
    scores = score_window(q, [(r.title or "", r.body or "") for r in rows])
    # Best score first; among equals the newest published, then the newest id. Stored times are
    # fixed-width text (`sqlite_time`), so they sort as strings, undated ("") last.
    by_date = sorted(zip(rows, scores, strict=True), key=lambda rs: (rs[0].published_at or "", rs[0].id), reverse=True)
    ranked = sorted(by_date, key=lambda rs: -rs[1])[offset : offset + limit]
    snippets = {r.id: snippet(q, r.body or "") for r, _ in ranked} if has_terms else {}
    return [_hit(r, score, snippets.get(r.id)) for r, score in ranked]


def _hit(row: Any, score: float = 0.0, snippet: str | None = None) -> SearchHit:
    head = (row.body or "")[:400]
    return SearchHit(
        id=row.id,
        title=display_title(row.title, head),
        outlet=row.outlet,
        published=_parse_time(row.published_at),
        url=row.url,
        snippet=snippet if snippet else head[:240],
        topics=tuple((row.topics or "").split()),
        score=score,
    )


async def _recent(session: AsyncSession, q: Query, *, limit: int, offset: int) -> list[SearchHit]:
    """Filters with no words (`since:24h`, `topic:nato`, `-trump`): the newest articles that pass them.

    Newest by publication date, walked down the (published_at, id) index; undated articles last.
    A topic is checked on each row walked (topics are stored space-separated), as on PostgreSQL:
    through FTS5 the newest by arrival would be taken, not the newest published.
    """
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = "1=1" + _date_filters(q, params)
    for i, topic in enumerate(q.topics):
        where += f" AND instr(' ' || lower(a.topics) || ' ', :topic{i}) > 0"
        params[f"topic{i}"] = f" {topic} "
    excl = exclusion_expression(q)
    if excl:
        where += " AND NOT EXISTS (SELECT 1 FROM articles_fts WHERE articles_fts MATCH :x AND rowid = a.id)"
        params["x"] = excl
    rows = (
        await session.execute(
            text(
                "SELECT a.id, a.title, a.outlet, a.published_at, a.url, a.topics, substr(a.text, 1, 400) AS body"
                f" FROM articles a WHERE {where}"
                " ORDER BY a.published_at DESC, a.id DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        )
    ).all()
    return [_hit(r) for r in rows]
