"""Near-identical wire copy from different outlets grouped into one story.

Why SQL band keys rather than an in-memory LSH index: several ingest processes may store articles
at once, and each must see the others' stories without rebuilding an index. A story keeps the
MinHash signature of its first article and its LSH band keys in `story_bands`; an article's
candidates are the recent stories sharing any band key, confirmed by the estimated Jaccard
similarity of the full signatures. The signature (rensa's `RMinHash`, see NOTES.md) is a pure
function computed off the event loop, next to parsing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.ingest.minhash import band_keys, signature, similarity
from bot.store.models import Article, Story, StoryBand, utcnow

__all__ = ["assign_stories", "assign_story", "band_keys", "signature", "similarity"]

THRESHOLD = 0.5
WINDOW = timedelta(days=3)
STORY_LOCK_KEY = 0x6E657773  # 'news'
_BANDS: Table = StoryBand.__table__  # type: ignore[assignment]
_ARTICLES: Table = Article.__table__  # type: ignore[assignment]
_SET_STORY = update(_ARTICLES).where(_ARTICLES.c.id == bindparam("b_id")).values(story_id=bindparam("b_story"))


async def _candidates(session: AsyncSession, keys: set[int]) -> dict[int, bytes]:
    if not keys:
        return {}
    since = utcnow() - WINDOW
    rows = await session.execute(
        select(Story.id, Story.signature)
        .join(StoryBand, StoryBand.story_id == Story.id)
        .where(StoryBand.key.in_(keys), Story.updated_at >= since, Story.signature.is_not(None))
        .distinct()
    )
    return {sid: sig for sid, sig in rows.all() if sig}


async def assign_stories(
    session: AsyncSession, articles: Sequence[Article], signatures: Sequence[bytes | None]
) -> list[Story]:
    """Put each article (without a story yet) into a matching recent story or a new one.

    Batched for a feed's worth of articles: one candidate query, one insert of new stories, one of
    their band keys. Articles in the same batch group with each other too.
    """
    assert len(articles) == len(signatures)
    if session.get_bind().dialect.name == "postgresql":
        # Serialise story assignment across transactions and processes until commit, so two
        # feeds carrying the same wire copy at once cannot both start a new story.
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": STORY_LOCK_KEY})
    keys_of = [band_keys(s) if s else [] for s in signatures]
    known = await _candidates(session, {k for ks in keys_of for k in ks})
    stories: dict[int, Story | None] = {sid: None for sid in known}  # loaded lazily
    by_key: dict[int, list[int]] = {}
    if known:
        rows = await session.execute(select(StoryBand.key, StoryBand.story_id).where(StoryBand.story_id.in_(known)))
        for key, sid in rows.all():
            by_key.setdefault(key, []).append(sid)
    out: list[Story] = []
    new_stories: list[tuple[Story, list[int]]] = []
    new_by_key: dict[int, list[int]] = {}  # band key -> index into new_stories (no pairwise scan)
    now = utcnow()
    for article, sig, keys in zip(articles, signatures, keys_of, strict=True):
        best: Story | None = None
        if sig:
            best_score = THRESHOLD
            cand_ids = {sid for k in keys for sid in by_key.get(k, ())}
            for sid in cand_ids:
                score = similarity(sig, known[sid])
                if score >= best_score:
                    best_score, best_id = score, sid
                    best = stories.get(best_id) or await session.get(Story, best_id)
                    stories[best_id] = best
            # stories created earlier in this batch, found through their band keys
            for i in sorted({i for k in keys for i in new_by_key.get(k, ())}):
                score = similarity(sig, new_stories[i][0].signature or b"")
                if score >= best_score:
                    best_score, best = score, new_stories[i][0]
        if best is None:
            best = Story(title=article.title, article_count=0, signature=sig, created_at=now, updated_at=now)
            for k in set(keys):
                new_by_key.setdefault(k, []).append(len(new_stories))
            new_stories.append((best, keys))
        best.article_count = (best.article_count or 0) + 1
        best.updated_at = now
        out.append(best)
    if new_stories:
        session.add_all([s for s, _ in new_stories])
        await session.flush()
        rows_to_add = [{"key": k, "story_id": s.id} for s, keys in new_stories for k in set(keys)]
        if rows_to_add:  # plain executemany: no ORM bookkeeping for thousands of key rows
            await session.execute(insert(_BANDS), rows_to_add)
    # One executemany sets story_id on rows already in the database; the objects get the value as
    # loaded state, so the session has nothing left to flush for them.
    persisted = [(a, st) for a, st in zip(articles, out, strict=True) if a.id is not None and a.story_id != st.id]
    if persisted:
        await session.execute(_SET_STORY, [{"b_id": a.id, "b_story": st.id} for a, st in persisted])
        for a, st in persisted:
            set_committed_value(a, "story_id", st.id)
    for a, st in zip(articles, out, strict=True):
        if a.id is None:
            a.story_id = st.id
    await session.flush()
    return out


async def assign_story(session: AsyncSession, article: Article, sig: bytes | None = None) -> Story:
    """The story this article belongs to (computing its signature when not given)."""
    if article.story_id is not None:
        found = await session.get(Story, article.story_id)
        if found is not None:
            return found
    if sig is None:
        sig = signature(article.title, article.text)
    return (await assign_stories(session, [article], [sig]))[0]
