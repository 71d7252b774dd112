"""Bounded search on both backends: what the recency window keeps, filters, paging, hostile input.

The archive is small, so `window=` is set small to make the bounding visible: ranking happens
among the newest `window` matches, and a search for a rare or filtered term still walks as far back
as it must. The property tests feed arbitrary text through the parser and the real search.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, store_article
from bot.store.models import Article, sqlite_time
from bot.store.search import SearchHit, compact_article_days, search
from bot.store.search.query import Query, QueryError, parse_query

NOW = datetime.now(UTC).replace(microsecond=0)
FILLER = "officials met on tuesday to discuss the budget and the weather in the capital"


def _item(n: int, *, text: str, title: str | None = None, days_ago: float = 0.0, outlet: str = "Reuters",
          topics: tuple[str, ...] = ()) -> ArticleIn:
    return ArticleIn(
        text=text,
        title=title if title is not None else f"Report {n}",
        guid=f"t{n}",
        url=f"https://example.org/{n}",
        outlet=outlet,
        topics=topics,
        published_at=NOW - timedelta(days=days_ago),
    )


async def _archive(sessions: async_sessionmaker[AsyncSession]) -> None:
    """120 articles, one a day back from today, stored oldest first (ids follow arrival).

    Every article says "budget" (common). "zephyrine" (rare) is only in the three oldest.
    Article 0 (the oldest) has "budget" in its title too: the best match overall, but far outside
    any small recency window. Every tenth article is NATO-tagged from AP; every seventh says "deficit".
    """
    items = []
    for age in range(119, -1, -1):
        n = 119 - age
        # every text has the same length, so relevance ties and recency decides among equals
        words = [FILLER, "budget", "zephyrine" if n < 3 else "meridian", "deficit" if n % 7 == 0 else "surplus"]
        items.append(
            _item(
                n,
                text=" ".join(words) + ".",
                title="Budget budget budget" if n == 0 else None,
                days_ago=age + 0.5,
                outlet="AP" if n % 10 == 0 else "Reuters",
                topics=("nato",) if n % 10 == 0 else (),
            )
        )
    async with sessions.begin() as s:
        for it in items:
            await store_article(s, it)


def _nums(page_hits: tuple[SearchHit, ...]) -> list[int]:
    return [int(h.title.split()[-1]) if h.title.startswith("Report") else 0 for h in page_hits]


async def test_common_word_ranks_only_the_newest_window(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _archive(sessions)
    async with sessions() as s:
        page = await search(s, "budget", limit=5, window=10)
        # ranked among the ten newest matches (all equally relevant): recency breaks the tie
        assert _nums(page.hits) == [119, 118, 117, 116, 115]
        assert page.has_more
        # a window reaching back to article 0 lets its title match win
        wide = await search(s, "budget", limit=5, window=500)
        assert _nums(wide.hits)[0] == 0
        assert _nums(wide.hits)[1:] == [119, 118, 117, 116]


async def test_rare_word_is_found_however_old(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _archive(sessions)
    async with sessions() as s:
        page = await search(s, "zephyrine", window=2)
        assert sorted(_nums(page.hits)) == [0, 1, 2]
        assert not page.has_more
        assert (await search(s, "zephyrine since:30d", window=2)).hits == ()
        assert sorted(_nums((await search(s, "zephyrine since:119d", window=2)).hits)) == [1, 2]
        assert (await search(s, "nosuchwordanywhere", window=2)).hits == ()


async def test_filters_combine_exactly(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _archive(sessions)
    async with sessions() as s:
        async def nums(q: str, **kw: int) -> list[int]:
            return sorted(_nums((await search(s, q, limit=100, **kw)).hits))

        assert await nums("budget topic:nato since:45d") == [80, 90, 100, 110]
        assert await nums("budget topic:nato since:45d", window=1) == [80, 90, 100, 110]
        assert await nums("budget source:ap since:45d") == [80, 90, 100, 110]
        before = (NOW - timedelta(days=100)).date().isoformat()
        assert await nums(f"deficit before:{before}") == [0, 7, 14]
        assert await nums(f"deficit before:{before} since:115d", window=1) == [7, 14]
        assert await nums("deficit -zephyrine since:30d", window=2) == [91, 98, 105, 112, 119]
        assert await nums("deficit OR zephyrine topic:nato") == [0, 70]
        assert await nums('"budget zephyrine"') == [0, 1, 2]
        assert await nums('"zephyrine budget"') == []
        assert await nums("topic:nato since:15d") == [110]
        assert await nums("-budget") == []
        assert await nums("since:3d", window=1) == [117, 118, 119]
        newest = await search(s, "topic:nato", limit=2)
        assert _nums(newest.hits) == [110, 100] and newest.has_more


async def test_paging_walks_the_ranked_list_without_gaps(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _archive(sessions)
    async with sessions() as s:
        full = await search(s, "deficit", limit=100, window=20)
        assert len(full.hits) == 18 and not full.has_more
        pages = []
        offset = 0
        while True:
            page = await search(s, "deficit", limit=5, offset=offset, window=20)
            pages += list(page.hits)
            if not page.has_more:
                break
            offset += 5
        assert [h.id for h in pages] == [h.id for h in full.hits]
        assert (await search(s, "deficit", limit=5, offset=100)).hits == ()


async def test_hits_carry_highlighted_snippets(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _archive(sessions)
    async with sessions() as s:
        page = await search(s, "zephyrine")
        assert page.hits and all("**zephyrine**" in h.snippet.lower() for h in page.hits)
        assert all(h.published is not None and h.published.tzinfo is not None for h in page.hits)
        assert page.hits[0].outlet in ("AP", "Reuters")


# ---------------------------------------------------------------------------- properties

_WORD = re.compile(r"^\w+$")
query_text = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.one_of(
            st.sampled_from(['"', "-", "OR", "AND", "NOT", "(", ")", "*", ":", "^", "topic:", "since:", "before:",
                             "source:", "NEAR(", "{title}", "'", ";", "\\", "\x00"]),
            st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12),
            st.sampled_from(["nato", "budget", "since:7d", "topic:nato", "source:ap", "since:99999y", "before:0001-01-01"]),
        ),
        max_size=12,
    ).map(" ".join),
)


def _parse(text: str) -> Query | None:
    try:
        return parse_query(text, now=NOW)
    except QueryError as e:
        assert str(e)  # a clear message for the user
        return None


@settings(max_examples=300, deadline=None)
@given(query_text)
def test_any_text_parses_to_word_terms(text: str) -> None:
    q = _parse(text)
    if q is None:
        return
    for term in [t for g in q.groups for t in g] + list(q.excluded):
        assert term.words and all(_WORD.match(w) for w in term.words)
    assert len(q.groups) + len(q.excluded) <= 16
    assert isinstance(q.describe(), str)


@pytest.mark.timeout(120)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=query_text)
async def test_any_text_searches_without_error(sessions: async_sessionmaker[AsyncSession], text: str) -> None:
    async with sessions.begin() as s:
        if not await s.scalar(select(func.count()).select_from(Article)):
            for n, age in enumerate((0, 2, 40, 400)):
                await store_article(s, _item(n, text=f"{FILLER} nato budget {n}", days_ago=age, topics=("nato",)))
    async with sessions() as s:
        q = _parse(text)
        if q is None:
            return
        page = await search(s, q, limit=3)
        assert len(page.hits) <= 3


# ---------------------------------------------------------------------------- date bounds

async def _disordered_archive(sessions: async_sessionmaker[AsyncSession]) -> dict[int, tuple[int, datetime]]:
    """The 120-day archive, plus articles whose ids do not follow their dates: an undated article
    stored first and dated 1.5 days ago later (a low id, a recent date), and a feed backfilled
    last with articles 200, 150 and 110 days old (the highest ids, old dates).

    Returns {article number: (arrival rank, published)} for the rows that say "meridian".
    """
    same = f"{FILLER} budget meridian surplus."
    async with sessions.begin() as s:
        await store_article(s, ArticleIn(text=same, title="Report 300", guid="t300", url="https://example.org/300", outlet="AP"))
    await _archive(sessions)
    backfill = [(200, 200.5), (201, 150.5), (202, 110.5)]
    async with sessions.begin() as s:
        for n, age in backfill:
            await store_article(s, _item(n, text=same, days_ago=age))
        # an edit (same length, same words searched for) that also brings the missing date
        await store_article(s, _item(300, text=same.replace("weather", "harbour"), days_ago=1.5, outlet="AP"))
    rows = {n: (n + 1, NOW - timedelta(days=119 - n + 0.5)) for n in range(3, 120)}  # "zephyrine" in 0-2
    rows[300] = (0, NOW - timedelta(days=1.5))
    rows |= {n: (200 + k, NOW - timedelta(days=age)) for k, (n, age) in enumerate(backfill)}
    return rows


def _expected(rows: dict[int, tuple[int, datetime]], since: datetime | None, before: datetime | None, window: int) -> list[int]:
    """The newest `window` matches by arrival that pass the dates, shown newest published first
    (every row is equally relevant)."""
    passing = [n for n, (_, p) in rows.items() if (since is None or p >= since) and (before is None or p < before)]
    newest = sorted(passing, key=lambda n: rows[n][0], reverse=True)[:window]
    return sorted(newest, key=lambda n: rows[n][1], reverse=True)


@pytest.mark.parametrize(("limit", "window"), [(2, 3), (100, 500)])
async def test_before_and_since_keep_exactly_the_rows_of_their_dates(
    sessions: async_sessionmaker[AsyncSession], limit: int, window: int
) -> None:
    """Every kind of bound (walked past from the newest or oldest id, or read from the dates kept)
    gives the same rows, in the same order, as filtering every row by date would."""
    rows = await _disordered_archive(sessions)
    day = NOW.replace(hour=0, minute=0, second=0)
    async with sessions.begin() as s:  # every other article is at one time of day: two at others
        # the later-dated one arrives last: no earlier day's range reaches its id
        for rank, (n, at) in enumerate(((401, day - timedelta(days=70, hours=1)), (400, day - timedelta(days=50, hours=-1)))):
            await store_article(s, _item(n, text=f"{FILLER} budget meridian surplus.", days_ago=(NOW - at) / timedelta(days=1)))
            rows[n] = (203 + rank, at)  # arrival after the backfill's 200-202
    # whole days (a typed date) and times inside a day (`before:1y`, `since:36h`), both read differently
    cases: list[tuple[float | None, float | None]] = [
        (None, 1), (None, 3), (None, 60), (None, 100), (None, 115), (None, 130), (None, 199), (None, 400),
        (None, -2), (3, None), (30, None), (105, None), (160, None), (500, None), (90, 60), (115, 100),
        (140, 120), (2, 1), (10, 20),
        (None, 0.25), (None, 59.6), (None, 110.3), (None, 150.45), (1.6, None), (45.2, None), (110.55, None),
        (60.7, 59.2), (60.7, 60.2), (60.2, 60.7), (0.9, 0.1), (150.5, 109.6), (119.4, 2.5),
    ]
    bounds = [
        (day - timedelta(days=a) if a is not None else None, day - timedelta(days=b) if b is not None else None)
        for a, b in cases
    ]
    minute = timedelta(minutes=1)  # and a minute either side of an article, wherever in its day it is
    for n in (40, 80, 115, 202, 400, 401):
        at = rows[n][1]
        bounds += [(None, at + minute), (None, at - minute), (at - minute, None), (at + minute, None), (at - minute, at + minute)]
    async with sessions() as s:
        for since, before in bounds:
            text = "meridian" + (f" since:{since.isoformat()}" if since else "") + (f" before:{before.isoformat()}" if before else "")
            page = await search(s, text, limit=limit, window=window)  # ranks the newest max(window, limit + 1)
            assert _nums(page.hits) == _expected(rows, since, before, max(window, limit + 1))[:limit], text
            assert all((since is None or h.published >= since) and (before is None or h.published < before)
                       for h in page.hits if h.published)


async def test_a_revised_date_moves_the_article_between_date_filters(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A correction that moves an article's date (here years back, then to today) moves it between
    `before:` and `since:` answers; a deleted article is simply gone. SQLite bounds the id range
    from a per-day summary kept by triggers, which must follow the move."""
    await _archive(sessions)
    day = NOW.replace(hour=0, minute=0, second=0)
    old = (day - timedelta(days=1000)).date()
    async with sessions() as s:
        assert (await search(s, f"budget before:{old}")).hits == ()
    async with sessions.begin() as s:  # the newest article was really published 1,001 days ago
        await s.execute(
            text("UPDATE articles SET published_at = :at WHERE guid = 't119'"),
            {"at": _bind_time(s, NOW - timedelta(days=1001))},
        )
        await s.execute(text("DELETE FROM articles WHERE guid = 't0'"))
    async with sessions() as s:
        assert _nums((await search(s, f"budget before:{old}")).hits) == [119]
        assert 119 not in _nums((await search(s, f"budget since:{(day - timedelta(days=3)).date()}")).hits)
        assert _nums((await search(s, f"zephyrine before:{(day - timedelta(days=100)).date()}")).hits) == [2, 1]
    async with sessions.begin() as s:  # and back to today
        await s.execute(
            text("UPDATE articles SET published_at = :at WHERE guid = 't119'"), {"at": _bind_time(s, NOW)}
        )
    async with sessions() as s:
        assert (await search(s, f"budget before:{old}")).hits == ()
        assert 119 in _nums((await search(s, f"budget since:{(day - timedelta(days=3)).date()}")).hits)


async def test_the_day_summary_folds_to_a_row_a_day_and_answers_the_same(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Date filters read `article_days`; on PostgreSQL every insert appends to it and the ingester
    folds it after each cycle. Folded or not, every date filter gives the same pages."""
    rows = await _disordered_archive(sessions)
    day = NOW.replace(hour=0, minute=0, second=0)
    queries = [f"meridian before:{(day - timedelta(days=d)).date()}" for d in (1, 100, 130, 400)]
    queries += [f"meridian since:{(day - timedelta(days=d)).date()}" for d in (3, 105, 500)]
    queries += [f"meridian since:{(day - timedelta(days=140)).date()} before:{(day - timedelta(days=120)).date()}"]
    async with sessions() as s:
        before = {q: _nums((await search(s, q, limit=100, window=500)).hits) for q in queries}
    async with sessions.begin() as s:
        await compact_article_days(s)
    async with sessions() as s:
        days, summary_rows = (await s.execute(text("SELECT count(DISTINCT day), count(*) FROM article_days"))).one()
        published = (await s.execute(select(Article.published_at).where(Article.published_at.is_not(None)))).scalars()
        assert days == summary_rows == len({p.astimezone(UTC).date() for p in published})
        assert {q: _nums((await search(s, q, limit=100, window=500)).hits) for q in queries} == before
        assert before[queries[1]] == _expected(rows, None, day - timedelta(days=100), 500)


def _bind_time(s: AsyncSession, at: datetime) -> object:
    """A datetime as each backend's hand-written SQL compares it (SQLite stores text)."""
    return sqlite_time(at) if s.get_bind().dialect.name == "sqlite" else at


async def test_before_pages_through_the_ranked_list(sessions: async_sessionmaker[AsyncSession]) -> None:
    await _archive(sessions)
    before = (NOW - timedelta(days=30)).date().isoformat()
    async with sessions() as s:
        full = await search(s, f"budget before:{before}", limit=20, window=21)
        assert len(full.hits) == 20 and full.has_more
        # equally relevant: the newest before the date first (the filter-only listing says which)
        newest = await search(s, f"before:{before}", limit=20)
        assert [h.id for h in full.hits] == [h.id for h in newest.hits]
        paged = []
        for offset in range(0, 20, 5):
            paged += list((await search(s, f"budget before:{before}", limit=5, offset=offset, window=21)).hits)
        assert [h.id for h in paged] == [h.id for h in full.hits]


async def test_postgres_row_walk_finds_what_the_index_finds(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads the newest rows one by one instead of the GIN index when ANALYZE says the
    words are common enough (large archives); forced here, it must find the same pages."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's choice between the GIN index and a walk of the newest rows")
    from bot.store.search import postgres as postgres_fts

    await _disordered_archive(sessions)
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE articles"))
    day = NOW.replace(hour=0, minute=0, second=0)
    queries = [
        "budget", "meridian", "zephyrine", "deficit OR zephyrine topic:nato", "budget source:ap",
        '"budget meridian"', '"zephyrine budget"', "deficit -zephyrine", 'budget -"budget meridian"',
        f"meridian before:{(day - timedelta(days=100)).date()}", f"deficit since:{(day - timedelta(days=45)).date()}",
    ]
    pages = {}
    async with sessions() as s:
        for query in queries:
            for window in (3, 50):
                pages[query, window] = [h.id for h in (await search(s, query, limit=2, window=window)).hits]
    monkeypatch.setattr(postgres_fts, "WALK_COST", 0)  # walk whenever the statistics know the words
    async with sessions() as s:
        assert await postgres_fts._share(s, parse_query("budget")) is not None
        for query in queries:
            for window in (3, 50):
                assert [h.id for h in (await search(s, query, limit=2, window=window)).hits] == pages[query, window], query


async def test_a_rare_phrase_of_common_words_is_found_however_old(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Every article holds both words, only the oldest holds them as the phrase: it is found on
    both backends whatever the window (PostgreSQL reads it from the adjacent-pair index)."""
    async with sessions.begin() as s:
        await store_article(s, _item(0, text=f"{FILLER}. The NATO summit opened.", days_ago=300))
        for n in range(1, 300):
            await store_article(s, _item(n, text=f"{FILLER}. A summit, said NATO.", days_ago=299 - n))
    async with sessions() as s:
        assert _nums((await search(s, '"nato summit"', window=3)).hits) == [0]
        assert _nums((await search(s, '"the nato"', window=3)).hits) == [0]  # stop words count
        assert _nums((await search(s, '"the nato summit" since:400d', window=3)).hits) == [0]
        assert (await search(s, '"nato summit" since:200d')).hits == ()
        assert len((await search(s, '"summit said nato"', limit=100, window=400)).hits) == 100
        assert _nums((await search(s, '"summit opened" OR "said the budget"', window=3)).hits) == [0]
        assert len((await search(s, 'nato summit -"said nato"', limit=100, window=400)).hits) == 1


# ---------------------------------------------------------------------------- both backends agree

_VOCAB = str.split(
    "the of and to a in that is said on for with as was by at from his be has are this not but new"
    " nato summit ukraine trump russia president minister government military defence talks war"
    " white house prime foreign peace union european secretary general air budget houses housing"
    " well-known kyiv's cease-fire talked talking governments presidential defences"
)


def _generated(n: int) -> list[ArticleIn]:
    """A seeded archive: Zipf-ish word choice with stop words, inflections, hyphens and
    possessives, fixed phrases, titles, dates over a year arriving in rough date order."""
    import random

    rng = random.Random(21)
    weights = [1 / (r + 2) for r in range(len(_VOCAB))]
    phrases = ["white house", "prime minister", "peace talks", "of the", "secretary general", "nato summit"]
    items = []
    for i in range(n):
        words = rng.choices(_VOCAB, weights, k=rng.randint(20, 60))
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(phrases))
        body = " ".join(words)
        body = body[:40] + ", " + body[40:] + "."
        title = " ".join(rng.choices(_VOCAB, weights, k=5)).capitalize() if i % 3 else None
        age = 365 * (1 - i / n) + rng.uniform(-5, 5)
        items.append(_item(i, text=body, title=title, days_ago=age, topics=("nato",) if i % 4 == 0 else ()))
    return items


_COMPARED = [
    '"white house"', '"prime minister"', '"of the"', '"said the"', '"the president"', '"nato summit"',
    '"peace talks"', '"secretary general" nato', '"well known"', '"kyiv s"', '"cease fire"', '"talks war"',
    '"white houses"', '"the white house"', '"said on the"', '"peace talks" OR "nato summit"',
    "house -white", 'house -"white house"', "nato -summit -trump", '"prime minister" -"foreign minister"',
    "talked", "governments", "defence -defences", "housing OR houses",
    '"white house" since:90d', '"of the" before:180d', '"prime minister" since:300d before:100d',
    "nato before:200d -summit", '"peace talks" since:30d', "budget since:60d", '"nato summit" topic:nato',
    'summit -"the nato"', "topic:nato since:100d", "topic:nato -summit",
]


@pytest.mark.postgres
@pytest.mark.timeout(300)
async def test_both_backends_find_the_same_articles(
    sqlite_template: Path, pg_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same archive in SQLite and PostgreSQL: every phrase, exclusion and date filter finds the
    same articles (all of them, and the newest window of them), whichever way PostgreSQL reads."""
    import asyncio
    import os
    import shutil

    from bot.store.db import make_engine, session_factory
    from bot.store.search import postgres as postgres_fts
    from bot.store.search import sqlite as sqlite_fts
    from tests.conftest import _admin

    path = tmp_path / "same.db"
    shutil.copy(sqlite_template, path)
    name = f"same_{os.getpid()}"
    await _admin(f"{pg_template}/postgres", f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE newsbot_tmpl")
    engines = [make_engine(f"sqlite:///{path}"), make_engine(f"{pg_template}/{name}")]
    items = _generated(1500)
    try:
        for eng in engines:
            async with session_factory(eng).begin() as s:
                for it in items:
                    await store_article(s, it)
        async with engines[1].begin() as conn:
            await conn.execute(text("ANALYZE articles"))

        async def found(eng: AsyncEngine, q: Query, window: int) -> set[str]:
            backend = sqlite_fts if eng.dialect.name == "sqlite" else postgres_fts
            async with session_factory(eng)() as s:
                hits = await backend.search(s, q, limit=window, offset=0, window=window)
            return {h.url or "" for h in hits}

        compared = 0
        for walk_cost in (postgres_fts.WALK_COST, 0):  # the GIN index, then the row walk
            monkeypatch.setattr(postgres_fts, "WALK_COST", walk_cost)
            for text_ in _COMPARED:
                q = parse_query(text_, now=NOW)
                for window in (40, 10_000):
                    lite, pg = await asyncio.gather(*(found(e, q, window) for e in engines))
                    assert lite == pg, (text_, window, sorted(lite ^ pg)[:5])
                    compared += bool(lite)
        assert compared >= 2 * 2 * (len(_COMPARED) - 4)  # nearly every query finds something
    finally:
        for eng in engines:
            await eng.dispose()
        await _admin(f"{pg_template}/postgres", f"DROP DATABASE IF EXISTS {name}")
