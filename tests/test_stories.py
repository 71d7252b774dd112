"""Story clustering: the pure signature, and assignment through the database on both backends."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive import ArticleIn, store_articles
from bot.store.models import Story, StoryBand
from bot.stories import assign_story, band_keys, signature, similarity
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
        stored = await store_articles(
            s, [ArticleIn(text=t, title=title, url=f"https://{i}.example/x", outlet=o) for i, (o, title, t) in enumerate(texts)]
        )
        stories = [await assign_story(s, st.article) for st in stored]
        assert stories[0].id == stories[1].id != stories[2].id
        assert stories[0].article_count == 2 and stories[2].article_count == 1
        again = await assign_story(s, stored[0].article)  # already assigned: unchanged
        assert again.id == stories[0].id and again.article_count == 2
    async with sessions() as s:
        assert len(list((await s.execute(select(Story))).scalars())) == 2
        bands = list((await s.execute(select(StoryBand))).scalars())
        assert {b.story_id for b in bands} == {stories[0].id, stories[2].id}
