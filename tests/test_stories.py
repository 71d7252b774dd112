"""Story clustering: the pure signature, and assignment through the database on both backends."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, store_articles
from bot.archive.stories import band_keys, signature, similarity
from bot.store.models import Article, Story, StoryBand
from tests.feedfarm import prose


def test_signature_is_pure_and_similarity_tracks_overlap() -> None:
    base = prose("wire", 200)
    a = signature("Allies meet", base)
    assert a is not None and a == signature("Allies meet", base) and len(a) == 128 * 4
    near = signature("Allies meet in Brussels", base + " Our correspondent contributed.")
    far = signature("Other story", prose("different", 200))
    assert near is not None and far is not None
    assert similarity(a, near) > 0.8
    assert similarity(a, far) < 0.3
    assert len(band_keys(a)) == 16 and set(band_keys(a)) & set(band_keys(near))
    assert signature("Short", "too few words here") is None


async def test_assign_story_groups_near_duplicates(sessions: async_sessionmaker[AsyncSession]) -> None:
    wire = prose("agency copy", 180)
    texts = [
        ("Outlet A", "Ceasefire talks resume", wire + " Reporting by Outlet A."),
        ("Outlet B", "Ceasefire talks resume in Geneva", "Updated. " + wire),
        ("Outlet C", "Unrelated budget vote", prose("budget", 180)),
    ]
    async with sessions.begin() as s:
        items = [ArticleIn(text=t, title=title, url=f"https://{i}.example/x", outlet=o) for i, (o, title, t) in enumerate(texts)]
        stored = await store_articles(s, items[:1], stories=True)
        stored += await store_articles(s, items[1:], stories=True)  # the second copy meets the stored story
        again = await store_articles(s, items, stories=True)  # stored already: no story grows
    ids = [st.article.story_id for st in stored]
    assert ids[0] is not None and ids[0] == ids[1] != ids[2]
    assert [st.outcome for st in again] == ["unchanged"] * 3
    async with sessions() as s:
        counts = dict((await s.execute(select(Story.id, Story.article_count))).all())
        assert counts == {ids[0]: 2, ids[2]: 1}
        assert dict((await s.execute(select(Article.id, Article.story_id))).all()) == {st.article.id: st.article.story_id for st in stored}
        bands = list((await s.execute(select(StoryBand))).scalars())
        assert {b.story_id for b in bands} == {ids[0], ids[2]}
        # Each story keeps exactly its first article's band keys, signed 64-bit values kept whole.
        for story_id, (_o, title, text) in ((ids[0], texts[0]), (ids[2], texts[2])):
            sig = signature(title, text)
            assert sig is not None
            assert sorted(b.key for b in bands if b.story_id == story_id) == sorted(set(band_keys(sig)))
        assert any(abs(b.key) > 2**53 for b in bands)  # past a double's exact integers


async def test_copies_in_one_batch_share_a_story(sessions: async_sessionmaker[AsyncSession]) -> None:
    wire = prose("one batch", 160)
    items = [ArticleIn(text=f"{wire} ({o})", title="Talks", url=f"https://{o}.example/y", outlet=o) for o in ("A", "B", "C")]
    async with sessions.begin() as s:
        stored = await store_articles(s, items, stories=True)
    assert len({st.article.story_id for st in stored}) == 1
    async with sessions() as s:
        assert (await s.execute(select(Story.article_count))).scalar_one() == 3


async def test_concurrent_writers_start_one_story(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Six transactions store copies of one wire story at once (as six ingesters could on
    PostgreSQL): each reads no story, yet only one is started and every copy joins it."""
    wire = prose("simultaneous wire", 170)

    async def write(n: int) -> int | None:
        async with sessions.begin() as s:
            item = ArticleIn(text=f"{wire} (outlet {n})", title="Summit", url=f"https://o{n}.example/w", outlet=f"O{n}")
            (stored,) = await store_articles(s, [item], stories=True)
            await asyncio.sleep(0.05)  # hold the transaction open while the others match
            return stored.article.story_id

    async def connect() -> None:
        async with sessions() as s:
            await s.execute(select(1))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(connect() for _ in range(6)))  # six pooled connections: the writers start in step
    ids = await asyncio.gather(*(write(n) for n in range(6)))
    assert ids[0] is not None and len(set(ids)) == 1
    async with sessions() as s:
        assert (await s.execute(select(Story.id, Story.article_count))).all() == [(ids[0], 6)]


async def test_a_failed_write_leaves_no_count_and_its_retry_joins_the_story(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    items = [ArticleIn(text=prose("retried", 160), title="Retried", url="https://r.example/1", outlet="R")]
    with contextlib.suppress(RuntimeError):
        async with sessions.begin() as s:
            await store_articles(s, items, stories=True)
            raise RuntimeError("the feed's transaction fails after its stories were assigned")
    async with sessions.begin() as s:
        (stored,) = await store_articles(s, items, stories=True)
    async with sessions() as s:
        stories = (await s.execute(select(Story.id, Story.article_count))).all()
        assert stories == [(stored.article.story_id, 1)]  # one story, counted once (none on SQLite's rollback)


async def test_writers_starting_unrelated_stories_do_not_wait_for_each_other(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """On PostgreSQL a writer starting a story locks only its band keys: while another
    transaction holds one story's keys, an unrelated story is started at once, and a copy of the
    held one waits, then joins the story committed meanwhile."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        return  # SQLite has one writer at a time by design
    held, other = prose("held wire", 170), prose("unrelated wire", 170)
    sig = signature("Wire", f"{held} (2)")
    assert sig is not None
    keys = sorted(set(band_keys(sig)))
    holder = sessions()
    await holder.begin()
    try:
        await holder.execute(
            text("INSERT INTO story_band_locks (key) SELECT unnest(CAST(:k AS bigint[])) ON CONFLICT (key) DO UPDATE SET key = excluded.key"),
            {"k": keys},
        )

        async def write(body: str, n: int) -> int | None:
            async with sessions.begin() as s:
                item = ArticleIn(text=f"{body} ({n})", title="Wire", url=f"https://u{n}.example/w", outlet=f"U{n}")
                (stored,) = await store_articles(s, [item], stories=True)
                return stored.article.story_id

        assert await asyncio.wait_for(write(other, 1), timeout=10) is not None
        waiting = asyncio.ensure_future(write(held, 2))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # a story with the held keys waits for their holder
    finally:
        await holder.rollback()
        await holder.close()
    first = await asyncio.wait_for(waiting, timeout=10)
    assert await write(held, 3) == first


async def test_stories_assigned_ahead_at_once_start_one_story(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Ingesters assign stories before their write transactions (`assign_ahead`, PostgreSQL): two
    that both read no story for the same wire copy start one, and their writes count both copies
    into it."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        return  # SQLite assigns in its one writer's transaction (test_concurrent_writers_start_one_story)
    from bot.archive.stories import assign_ahead

    wire = prose("assigned ahead", 170)
    items = [ArticleIn(text=f"{wire} ({n})", title="Summit", url=f"https://a{n}.example/w", outlet=f"A{n}") for n in range(2)]

    async def ahead(item: ArticleIn) -> int:
        async with sessions() as s:
            (sid,) = await assign_ahead(s, [item.title], [signature(item.title, item.text)])
            return sid

    ids = await asyncio.gather(*(ahead(i) for i in items))
    assert ids[0] == ids[1]
    for item, sid in zip(items, ids, strict=True):
        async with sessions.begin() as s:
            (stored,) = await store_articles(s, [item], stories=True, chosen={item: sid})
            assert stored.article.story_id == sid
    async with sessions() as s:
        assert (await s.execute(select(Story.id, Story.article_count))).all() == [(ids[0], 2)]
