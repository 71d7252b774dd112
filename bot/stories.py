"""Near-identical wire copy from different outlets grouped into one story.

Why SQL band keys rather than an in-memory LSH index: several ingest processes may store articles
at once, and each must see the others' stories without rebuilding an index. A story keeps the
MinHash signature of its first article and its LSH band keys in `story_bands`; an article's
candidates are the recent stories sharing any band key, confirmed by the estimated Jaccard
similarity of the full signatures. The signature (rensa's `RMinHash`, see NOTES.md) is a pure
function computed off the event loop, next to parsing. Stories are assigned before the articles
are inserted, so each article's INSERT carries its story id (no second write per article).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ingest.minhash import band_keys, signature, similarity
from bot.store.db import insert_returning_ids
from bot.store.models import Story, StoryBand, utcnow

__all__ = ["assign_stories", "band_keys", "signature", "similarity"]

THRESHOLD = 0.5
WINDOW = timedelta(days=3)
STORY_LOCK_KEY = 0x6E657773  # 'news'
_STORIES: Table = Story.__table__  # type: ignore[assignment]
_BANDS: Table = StoryBand.__table__  # type: ignore[assignment]
_BUMP = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("b_id"))
    .values(article_count=_STORIES.c.article_count + bindparam("b_n"), updated_at=bindparam("b_now"))
)


@dataclass
class _NewStory:
    title: str | None
    signature: bytes | None
    keys: list[int]
    count: int = 1
    id: int = 0


async def _candidates(session: AsyncSession, keys: set[int]) -> tuple[dict[int, bytes], dict[int, list[int]]]:
    """Recent stories sharing a band key: their signatures, and story ids by band key."""
    if not keys:
        return {}, {}
    since = utcnow() - WINDOW
    rows = await session.execute(
        select(Story.id, Story.signature)
        .join(StoryBand, StoryBand.story_id == Story.id)
        .where(StoryBand.key.in_(keys), Story.updated_at >= since, Story.signature.is_not(None))
        .distinct()
    )
    known = {sid: sig for sid, sig in rows.all() if sig}
    by_key: dict[int, list[int]] = {}
    if known:
        for key, sid in (await session.execute(select(StoryBand.key, StoryBand.story_id).where(StoryBand.story_id.in_(known)))).all():
            by_key.setdefault(key, []).append(sid)
    return known, by_key


async def assign_stories(
    session: AsyncSession, titles: Sequence[str | None], signatures: Sequence[bytes | None]
) -> list[int]:
    """The story id for each article about to be stored: a matching recent story, or a new one.

    Batched for many feeds' worth of articles: one candidate query, one insert of new stories, one
    of their band keys, one update of the stories that grew. Articles in the same batch group with
    each other too. Articles too short to compare each get a story of their own.
    """
    assert len(titles) == len(signatures)
    if session.get_bind().dialect.name == "postgresql":
        # Serialise story assignment across transactions and processes until commit, so two
        # feeds carrying the same wire copy at once cannot both start a new story.
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": STORY_LOCK_KEY})
    keys_of = [band_keys(s) if s else [] for s in signatures]
    known, by_key = await _candidates(session, {k for ks in keys_of for k in ks})
    grown: dict[int, int] = {}
    new: list[_NewStory] = []
    new_by_key: dict[int, list[int]] = {}  # band key -> index into `new` (no pairwise scan)
    picks: list[int | _NewStory] = []
    for title, sig, keys in zip(titles, signatures, keys_of, strict=True):
        best: int | _NewStory | None = None
        if sig:
            best_score = THRESHOLD
            for sid in {sid for k in keys for sid in by_key.get(k, ())}:
                score = similarity(sig, known[sid])
                if score >= best_score:
                    best_score, best = score, sid
            for i in sorted({i for k in keys for i in new_by_key.get(k, ())}):
                score = similarity(sig, new[i].signature or b"")
                if score >= best_score:
                    best_score, best = score, new[i]
        if best is None:
            best = _NewStory(title, sig, keys, count=0)
            for k in set(keys):
                new_by_key.setdefault(k, []).append(len(new))
            new.append(best)
        if isinstance(best, int):
            grown[best] = grown.get(best, 0) + 1
        else:
            best.count += 1
        picks.append(best)
    now = utcnow()
    if new:
        rows = [
            {"title": s.title, "article_count": s.count, "signature": s.signature, "created_at": now, "updated_at": now}
            for s in new
        ]
        for s, sid in zip(new, await insert_returning_ids(session, _STORIES, rows), strict=True):
            s.id = sid
        bands = [{"key": k, "story_id": s.id} for s in new for k in set(s.keys)]
        if bands:
            await session.execute(insert(_BANDS), bands)
    if grown:
        await session.execute(_BUMP, [{"b_id": sid, "b_n": n, "b_now": now} for sid, n in grown.items()])
    return [p if isinstance(p, int) else p.id for p in picks]
