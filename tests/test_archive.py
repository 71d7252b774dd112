"""The archive on both backends: seeding, exactly-once storage, revisions and search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, store_article
from bot.archive.seed import load_seeds
from bot.config import AppConfig
from bot.store.models import Article, ArticleRevision
from bot.store.search import search
from tests.conftest import SEEDS


async def test_seeding_is_idempotent_and_cleans(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    first = await load_seeds(sessions, SEEDS, app_config)
    assert (first.new, first.unchanged) == (5, 0)
    again = await load_seeds(sessions, SEEDS, app_config)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 5)
    async with sessions() as s:
        rows = {a.guid: a for a in (await s.execute(select(Article))).scalars()}
    assert len(rows) == 5
    a000 = rows["seed:000_35d2fb0b583c034c"]
    assert a000.title and a000.title.startswith("NATO Summit Tensions")
    assert "skip to content" not in a000.text.lower()
    assert "Press" not in a000.text.split("\n")[0]
    a003 = rows["seed:003_3e70e7dff98cf2b9"]
    assert "Leave a Reply" not in a003.text and "YOU MAY ALSO LIKE" not in a003.text
    assert "Your email address" not in a003.text
    assert a003.published_at == datetime(2025, 3, 14, tzinfo=UTC)
    assert rows["seed:002_5a04e56c527ff552"].published_at == datetime(2025, 6, 9, tzinfo=UTC)
    assert '"*" indicates required fields' not in rows["seed:001_dbee41912bf1d351"].text
    for a in rows.values():
        assert "nato" in a.topics.split()
    assert "trump" in a000.topics.split() and "ukraine" in a000.topics.split()


async def test_search_finds_irreversible_in_000_and_002(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    await load_seeds(sessions, SEEDS, app_config)
    async with sessions() as s:
        page = await search(s, "irreversible")
        ids = {h.id for h in page.hits}
        guids = set((await s.execute(select(Article.guid).where(Article.id.in_(ids)))).scalars())
        assert guids == {"seed:000_35d2fb0b583c034c", "seed:002_5a04e56c527ff552"}
        assert all("**" in h.snippet for h in page.hits)
        for boiler in ("skip to content", "Leave a Reply", "required fields", "YOU MAY ALSO LIKE"):
            assert (await search(s, f'"{boiler}"')).hits == (), boiler


async def test_hostile_queries_are_queries(sessions: async_sessionmaker[AsyncSession], app_config: AppConfig) -> None:
    await load_seeds(sessions, SEEDS, app_config)
    async with sessions() as s:
        for q in [
            '"nato AND (',
            "NEAR(a b)",
            "title:*",
            "'; DROP TABLE articles; --",
            "^",
            '"',
            "-",
            "OR OR",
            "nato*",
            "a:b:c",
            "\x00",
            "zelensky -",
            "{title}: x",
            "rutte NOT",
            "topic:",
            "since:",
        ]:
            await search(s, q)  # never raises
        assert (await search(s, "nato AND (")).hits
        assert await s.scalar(select(func.count()).select_from(Article)) == 5


async def _add(
    s: AsyncSession,
    n: int,
    title: str,
    text: str,
    *,
    outlet: str = "Reuters",
    days_ago: int = 0,
    topics: tuple[str, ...] = (),
) -> None:
    await store_article(
        s,
        ArticleIn(
            text=text,
            title=title,
            guid=f"g{n}",
            url=f"https://example.org/{n}",
            outlet=outlet,
            topics=topics,
            published_at=datetime.now(UTC) - timedelta(days=days_ago),
        ),
    )


async def test_search_language(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        await _add(
            s, 1, "Rutte on Ukraine", "Rutte said the path is irreversible.", topics=("nato", "ukraine"), days_ago=1
        )
        await _add(
            s, 2, "Trump on tariffs", "Trump said tariffs are coming.", outlet="AP", topics=("trump",), days_ago=10
        )
        await _add(
            s,
            3,
            "Zelensky in Kyiv",
            "Zelensky said the irreversible path continues.",
            outlet="BBC News",
            topics=("ukraine",),
            days_ago=40,
        )
    async with sessions() as s:

        async def titles(q: str) -> list[str]:
            return [h.title for h in (await search(s, q)).hits]

        assert set(await titles("irreversible")) == {"Rutte on Ukraine", "Zelensky in Kyiv"}
        assert await titles('"path is irreversible"') == ["Rutte on Ukraine"]
        assert await titles("irreversible -zelensky") == ["Rutte on Ukraine"]
        assert set(await titles("tariffs OR zelensky")) == {"Trump on tariffs", "Zelensky in Kyiv"}
        assert await titles("said topic:trump") == ["Trump on tariffs"]
        assert await titles("said source:bbc") == ["Zelensky in Kyiv"]
        assert set(await titles("said since:14d")) == {"Rutte on Ukraine", "Trump on tariffs"}
        before = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
        assert await titles(f"said before:{before}") == ["Zelensky in Kyiv"]
        assert await titles("since:3d") == ["Rutte on Ukraine"]  # filters alone list the newest
        assert await titles("-irreversible") == ["Trump on tariffs"]
        page = await search(s, "said", limit=2)
        assert len(page.hits) == 2 and page.has_more
        rest = await search(s, "said", limit=2, offset=2)
        assert len(rest.hits) == 1 and not rest.has_more
        assert {h.id for h in page.hits}.isdisjoint({h.id for h in rest.hits})


async def test_store_once_and_keep_revisions(sessions: async_sessionmaker[AsyncSession]) -> None:
    item = ArticleIn(text="Body one.", title="T", guid="guid-1", url="https://example.org/a", outlet="X")
    async with sessions.begin() as s:
        assert (await store_article(s, item)).outcome == "new"
    async with sessions.begin() as s:
        assert (await store_article(s, item)).outcome == "unchanged"
        # the same article from another feed, under its canonical URL only
        same_url = ArticleIn(text="Body one.", title="T", url="https://example.org/a", outlet="X")
        assert (await store_article(s, same_url)).outcome == "unchanged"
        # re-published under a new GUID and URL with the same words
        again = ArticleIn(text="Body one.", title="T", guid="guid-2", url="https://example.org/b", outlet="X")
        assert (await store_article(s, again)).outcome == "unchanged"
    edited = ArticleIn(
        text="Body one, corrected.", title="T (updated)", guid="guid-1", url="https://example.org/a", outlet="X"
    )
    async with sessions.begin() as s:
        stored = await store_article(s, edited)
        assert stored.outcome == "updated" and stored.changed_text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Article)) == 1
        art = (await s.execute(select(Article))).scalar_one()
        assert art.revision == 2 and art.title == "T (updated)"
        rev = (await s.execute(select(ArticleRevision))).scalar_one()
        assert rev.text == "Body one." and rev.revision == 1
        assert [h.title for h in (await search(s, "corrected")).hits] == ["T (updated)"]
        assert (await search(s, '"body one"')).hits  # the index follows the edit


async def test_a_batch_stores_every_value_as_one_article_at_a_time_does(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A batch goes in as a first row and one executemany of the rest (SQLite: `insert_returning_ids`):
    each value must come back exactly as an article stored on its own does."""
    from datetime import timezone

    from bot.archive.articles import store_articles

    odd = [
        "Plain text.", "Ünïcödé — “curly” ‘quotes’ and emoji 🛰️", 'JSON-looking {"a": [1, 2]} and \\ backslashes',
        "00123", "line\nbreaks\tand tabs", "null", "true", "1e309", "  spaces  ",
    ]
    cest = timezone(timedelta(hours=2))

    def items(tag: str) -> list[ArticleIn]:
        return [
            ArticleIn(
                text=f"{body} ({tag} {i})", title=odd[(i + 1) % len(odd)], guid=f"{tag}:{i}:{odd[i]}",
                url=f"https://{tag}.example/{i}", outlet=odd[(i + 2) % len(odd)], author=None if i % 2 else "A. Writer",
                published_at=datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=cest) + timedelta(days=i) if i % 3 else None,
                published_inferred=bool(i % 2), topics=("nato", "ukraine")[: i % 3], summary_only=i % 4 == 0,
                fulltext_status="queued" if i % 5 == 0 else None, fulltext_note="backfill" if i % 5 == 0 else None,
            )
            for i, body in enumerate(odd)
        ]

    async with sessions.begin() as s:
        await store_articles(s, items("batch"))
    async with sessions.begin() as s:
        for item in items("single"):
            await store_article(s, item)
    columns = ("title", "outlet", "author", "published_at", "published_inferred", "topics", "summary_only",
               "fulltext_status", "fulltext_note", "origin", "revision", "fulltext_attempts")
    async with sessions() as s:
        rows = (await s.execute(select(Article).order_by(Article.id))).scalars().all()
    batch = {r.guid.split(":", 1)[1]: r for r in rows if r.guid and r.guid.startswith("batch:")}
    single = {r.guid.split(":", 1)[1]: r for r in rows if r.guid and r.guid.startswith("single:")}
    assert len(batch) == len(single) == len(odd)
    for key, b in batch.items():
        o = single[key]
        assert b.text.replace("batch", "single") == o.text
        assert {c: getattr(b, c) for c in columns} == {c: getattr(o, c) for c in columns}  # the texts differ, so their hashes
        assert b.first_seen_at is not None and b.first_seen_at.tzinfo is not None
    assert batch["0:Plain text."].published_at is None
    assert batch["1:Ünïcödé — “curly” ‘quotes’ and emoji 🛰️"].published_at == datetime(2025, 3, 2, 10, 30, 15, 123456, tzinfo=UTC)
    async with sessions() as s:  # and the full-text index took the batch's rows like the others
        hits = await search(s, "backslashes")
    assert {h.url.split("/")[2] for h in hits.hits if h.url} == {"batch.example", "single.example"}


async def test_one_of_matches_exactly_its_values_in_one_parameter(sessions: async_sessionmaker[AsyncSession]) -> None:
    """`one_of` sends a lookup's values as one JSON (SQLite) or array (PostgreSQL) parameter: every
    string must arrive as itself, 64-bit integers whole, and more values than SQLite allows
    placeholders (32,766) must still be one statement."""
    from bot.store.db import one_of
    from bot.store.models import Story, StoryBand

    odd = ["Plain", "Ünïcödé “curly” 🛰️", 'JSON {"a": [1]} and \\ backslash', "00123", "line\nbreak", "null", "1e309", " "]
    edges = [-(2**63), -1, 0, 1, 2**53 + 1, 2**63 - 1]
    async with sessions.begin() as s:
        for i, g in enumerate(odd):
            await store_article(s, ArticleIn(text=f"body {i}", title="t", guid=g, url=f"https://x.example/{i}", outlet="X"))
        story = Story(title="s", signature=None)
        s.add(story)
        await s.flush()
        s.add_all(StoryBand(key=k, story_id=story.id) for k in edges)
    dialect = sessions.kw["bind"].dialect.name
    decoys = [f"{g}x" for g in odd] + [g.upper() for g in odd if g.upper() != g] + [f"guid-{n}" for n in range(40_000)]
    async with sessions() as s:
        got = (await s.execute(select(Article.guid).where(one_of(Article.guid, odd[::2] + decoys, dialect)))).scalars()
        assert sorted(got) == sorted(odd[::2])
        assert (await s.execute(select(Article.guid).where(one_of(Article.guid, [], dialect)))).all() == []
        keys = (await s.execute(select(StoryBand.key).where(one_of(StoryBand.key, [*edges, 2, -2, 2**53], dialect)))).scalars()
        assert sorted(keys) == edges


async def test_insert_returning_ids_gives_each_row_its_own_id_in_order(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The ids come back in the rows' order (PostgreSQL: one `unnest` insert, ids sorted), and
    the columns left out take their model defaults, as an ORM insert would."""
    from bot.store.db import insert_returning_ids

    now = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
    rows = [
        {"url": f"https://order.example/{n}", "guid": f"order:{n}", "title": f"Title {n}", "text": f"Body {n}.",
         "content_hash": f"h{n}", "published_at": now - timedelta(minutes=n), "first_seen_at": now}
        for n in (7, 3, 11, 0, 5, 2, 9)
    ]
    async with sessions.begin() as s:
        ids = await insert_returning_ids(s, Article.__table__, rows)  # type: ignore[arg-type]
    assert len(set(ids)) == len(rows)
    async with sessions() as s:
        stored = {a.id: a for a in (await s.execute(select(Article).where(Article.id.in_(ids)))).scalars()}
    for row, art_id in zip(rows, ids, strict=True):
        a = stored[art_id]
        assert (a.guid, a.title, a.text) == (row["guid"], row["title"], row["text"])
        assert (a.revision, a.fulltext_attempts, a.origin, a.topics, a.summary_only) == (1, 0, "feed", "", False)
