"""Bounded search on both backends: what the recency window keeps, filters, paging, hostile input.

The archive is small, so `window=` is set small to make the bounding visible: ranking happens
among the newest `window` matches, and a search for a rare or filtered term still walks as far back
as it must. The property tests feed arbitrary text through the parser and the real search.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive import ArticleIn, store_article
from bot.store.models import Article
from bot.store.query import Query, QueryError, parse_query
from bot.store.search import search

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


def _nums(page_hits: tuple) -> list[int]:  # type: ignore[type-arg]
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
