"""Near-identical wire copy from different outlets grouped into one story.

Why SQL band keys rather than an in-memory LSH index: several ingest processes may store articles
at once, and each must see the others' stories without rebuilding an index. A story keeps the
MinHash signature of its first article and its LSH band keys in `story_bands`; an article's
candidates are the recent stories sharing any band key, confirmed by the estimated Jaccard
similarity of the full signatures. The signature (rensa's `RMinHash`, see NOTES.md) is a pure
function computed off the event loop, next to parsing. Stories are assigned before the articles
are inserted, so each article's INSERT carries its story id (no second write per article).

Several writers on PostgreSQL: two feeds carrying the same wire copy at once must not both start
a story. Matching against committed stories needs no lock; only the articles that start a story
lock the band keys they would claim (rows of `story_band_locks`, upserted in key order, so two
writers never wait on each other in a cycle), in a short transaction of their own, then re-read
the stories sharing those keys and commit at once. Two writers wait for each other only when
their new stories share a band key, which is exactly when one may have to join the other's: a
story can only ever be matched through a shared key. Writers starting unrelated stories never
wait (one lock for every writer starting any story would queue them all: measured with 8
ingesters, 10 backends waiting on it on average). The caller's transaction then inserts the articles and
counts them into their stories. If it fails, the new stories stay empty (count 0, shown nowhere)
and the retry's match finds and fills them. The ingester does all of it before its write
transaction opens (`assign_ahead`); the write only inserts the articles with their story ids and
counts them in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, bindparam, event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from bot.store.db import insert_returning_ids, one_of
from bot.store.models import Story, StoryBand, utcnow
from bot.text.minhash import band_keys, signature, similarity

__all__ = ["assign_ahead", "assign_stories", "band_keys", "signature", "similarity", "write_counts"]

THRESHOLD = 0.5
WINDOW = timedelta(days=3)
_STORIES: Table = Story.__table__  # type: ignore[assignment]
_BUMP = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("b_id"))
    .values(article_count=_STORIES.c.article_count + bindparam("b_n"), updated_at=bindparam("b_now"))
)
_SQLITE_INSERT_BANDS = text(
    """INSERT INTO story_bands ("key", story_id)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:pairs)"""
)
_PG_INSERT_BANDS = text(
    "INSERT INTO story_bands (key, story_id) SELECT * FROM unnest(CAST(:keys AS bigint[]), CAST(:ids AS bigint[]))"
)


_TAKE_WRITE_LOCK = update(_STORIES).where(_STORIES.c.id == -1).values(article_count=_STORIES.c.article_count)


@dataclass
class _NewStory:
    title: str | None
    signature: bytes | None
    keys: list[int]
    count: int = 1
    id: int = 0


@dataclass
class _Known:
    """Stories an article may join: their signatures, and story ids by band key."""

    signatures: dict[int, bytes]
    by_key: dict[int, list[int]]


async def _candidates(session: AsyncSession, keys: set[int], *, after_id: int = 0) -> _Known:
    """Recent stories sharing a band key (and with an id above `after_id`)."""
    if not keys:
        return _Known({}, {})
    since = utcnow() - WINDOW
    wanted = one_of(StoryBand.key, sorted(keys), session.get_bind().dialect.name)  # one parameter for thousands of keys
    # The matching (key, story) pairs themselves: an article is only ever looked up by its own
    # keys, all among `keys`, so the stories' other keys are never needed.
    query = (
        select(StoryBand.key, Story.id, Story.signature)
        .join(StoryBand, StoryBand.story_id == Story.id)
        .where(wanted, Story.updated_at >= since, Story.signature.is_not(None))
    )
    if after_id:
        query = query.where(StoryBand.story_id > after_id)
    known: dict[int, bytes] = {}
    by_key: dict[int, list[int]] = {}
    for key, sid, sig in (await session.execute(query)).all():
        if sig:
            known[sid] = sig
            by_key.setdefault(key, []).append(sid)
    return _Known(known, by_key)


def _match(
    titles: Sequence[str | None], signatures: Sequence[bytes | None], keys_of: Sequence[list[int]], known: _Known
) -> list[int | _NewStory]:
    """Each article's story: the most similar known one, or a new one (shared within the batch)."""
    new: list[_NewStory] = []
    new_by_key: dict[int, list[int]] = {}  # band key -> index into `new` (no pairwise scan)
    picks: list[int | _NewStory] = []
    for title, sig, keys in zip(titles, signatures, keys_of, strict=True):
        best: int | _NewStory | None = None
        if sig:
            best_score = THRESHOLD
            for sid in {sid for k in keys for sid in known.by_key.get(k, ())}:
                score = similarity(sig, known.signatures[sid])
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
        if isinstance(best, _NewStory):
            best.count += 1
        picks.append(best)
    return picks


async def _insert_new(session: AsyncSession, new: list[_NewStory]) -> None:
    """Insert stories, counted, and their band keys in the caller's transaction (one writer at a time)."""
    now = utcnow()
    rows = [
        {"title": s.title, "article_count": s.count, "signature": s.signature, "created_at": now, "updated_at": now}
        for s in new
    ]
    for s, sid in zip(new, await insert_returning_ids(session, _STORIES, rows), strict=True):
        s.id = sid
    bands = [(k, s.id) for s in new for k in set(s.keys)]
    if not bands:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Sixteen rows per story: one statement over two arrays, not one executed row each (measured:
        # 59 µs a row through executemany, with the story lock held).
        keys, ids = zip(*bands, strict=True)
        await session.execute(_PG_INSERT_BANDS, {"keys": list(keys), "ids": list(ids)})
    else:
        # One JSON parameter, unpacked by SQLite: an executemany bound 320,000 rows a first cycle
        # one at a time in Python on the event loop (measured: 0.85 -> 0.33 s of its CPU).
        await session.execute(_SQLITE_INSERT_BANDS, {"pairs": json.dumps(bands)})


async def _create_locked(
    engine: AsyncEngine,
    picks: list[int | _NewStory],
    titles: Sequence[str | None],
    signatures: Sequence[bytes | None],
    keys_of: Sequence[list[int]],
    known: set[int],
) -> None:
    """Create the new stories among `picks` in a short transaction of its own, holding their band
    keys' locks.

    Articles that would start a story are first matched again against the stories now committed
    with their keys that were not among those matched before (`known`): another writer may just
    have started the same one. Usually none is, and the check and the creation are one statement
    (`_PG_CREATE_UNLESS`): the transaction is the lock, that statement and the commit. `picks` is
    updated in place.
    """
    starting = [i for i, p in enumerate(picks) if isinstance(p, _NewStory)]
    keys = sorted({k for i in starting for k in keys_of[i]})
    async with AsyncSession(engine) as own, own.begin():
        await own.execute(_LOCK_KEYS, {"keys": keys})
        if await _create(own, _distinct_new(picks), unless=(keys, known)):
            return  # nobody started a story with these keys since they were read: the usual case
        since = await _candidates(own, set(keys))
        if not set(since.signatures) <= known:
            again = _match(
                [titles[i] for i in starting], [signatures[i] for i in starting], [keys_of[i] for i in starting], since
            )
            for i, p in zip(starting, again, strict=True):
                picks[i] = p
        new = _distinct_new(picks)
        if new:
            await _create(own, new)


# Row locks on the band keys (created on first use), taken in key order: a writer starting stories
# waits only for writers starting stories with one of the same keys, until their short commit.
_LOCK_KEYS = text(
    "INSERT INTO story_band_locks (key) SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"
    " ON CONFLICT (key) DO UPDATE SET key = excluded.key"
)
# New stories (ids drawn here) with their band keys, in one round trip.
_PG_CREATE = text(
    """
    WITH new AS (
        SELECT nextval(pg_get_serial_sequence('stories', 'id')) AS id, t.ord, t.title, t.sig
        FROM unnest(CAST(:titles AS text[]), CAST(:sigs AS bytea[])) WITH ORDINALITY AS t(title, sig, ord)
    ), ins_stories AS (
        INSERT INTO stories (id, title, article_count, signature, created_at, updated_at)
        SELECT id, title, 0, sig, CAST(:now AS timestamptz), CAST(:now AS timestamptz) FROM new
    ), ins_bands AS (
        INSERT INTO story_bands (key, story_id)
        SELECT k.key, new.id
        FROM unnest(CAST(:band_keys AS bigint[]), CAST(:band_ords AS bigint[])) AS k(key, ord)
        JOIN new ON new.ord = k.ord
    )
    SELECT ord, id FROM new
    """
)


# The same, only if no recent story with one of `keys` is missing from `known` (the stories read
# before the lock): the check and the creation in one round trip, under the keys' locks.
_PG_CREATE_UNLESS = text(
    """
    WITH since AS (
        SELECT 1 FROM story_bands b JOIN stories s ON s.id = b.story_id
        WHERE b.key = ANY(CAST(:keys AS bigint[])) AND s.updated_at >= CAST(:since AS timestamptz)
          AND s.signature IS NOT NULL AND b.story_id NOT IN (SELECT unnest(CAST(:known AS bigint[])))
        LIMIT 1
    ), new AS (
        SELECT nextval(pg_get_serial_sequence('stories', 'id')) AS id, t.ord, t.title, t.sig
        FROM unnest(CAST(:titles AS text[]), CAST(:sigs AS bytea[])) WITH ORDINALITY AS t(title, sig, ord)
        WHERE NOT EXISTS (SELECT 1 FROM since)
    ), ins_stories AS (
        INSERT INTO stories (id, title, article_count, signature, created_at, updated_at)
        SELECT id, title, 0, sig, CAST(:now AS timestamptz), CAST(:now AS timestamptz) FROM new
    ), ins_bands AS (
        INSERT INTO story_bands (key, story_id)
        SELECT k.key, new.id
        FROM unnest(CAST(:band_keys AS bigint[]), CAST(:band_ords AS bigint[])) AS k(key, ord)
        JOIN new ON new.ord = k.ord
    )
    SELECT ord, id FROM new
    """
)


async def _create(own: AsyncSession, new: list[_NewStory], unless: tuple[list[int], set[int]] | None = None) -> bool:
    """Create `new` (uncounted) with their band keys in one statement; sets their ids. `unless`
    (band keys, story ids known): create nothing, and answer False, if a recent story with one
    of those keys is not among those known."""
    if not new:
        return True
    band_keys_flat: list[int] = []
    band_ords: list[int] = []
    for ord_, story in enumerate(new, start=1):
        for k in set(story.keys):
            band_keys_flat.append(k)
            band_ords.append(ord_)
    now = utcnow()
    params: dict[str, Any] = {
        "titles": [s.title for s in new],
        "sigs": [s.signature for s in new],
        "now": now,
        "band_keys": band_keys_flat,
        "band_ords": band_ords,
    }
    if unless is not None:
        params |= {"keys": unless[0], "known": sorted(unless[1]), "since": now - WINDOW}
    rows = (await own.execute(_PG_CREATE if unless is None else _PG_CREATE_UNLESS, params)).all()
    if not rows:
        return False
    ids = {int(o): int(i) for o, i in rows}
    for ord_, story in enumerate(new, start=1):
        story.id = ids[ord_]
    return True


def _distinct_new(picks: Sequence[int | _NewStory]) -> list[_NewStory]:
    return list({id(p): p for p in picks if isinstance(p, _NewStory)}.values())


def _keys_of(signatures: Sequence[bytes | None], bands: Sequence[Sequence[int] | None] | None) -> list[list[int]]:
    # Band keys computed in the parse workers beside the signature save the event loop their hashing.
    given = bands if bands is not None else [None] * len(signatures)
    return [list(b) if b is not None else band_keys(s) if s else [] for s, b in zip(signatures, given, strict=True)]


async def assign_ahead(
    session: AsyncSession,
    titles: Sequence[str | None],
    signatures: Sequence[bytes | None],
    bands: Sequence[Sequence[int] | None] | None = None,
    quiet: AbstractAsyncContextManager[Any] | None = None,
) -> list[int]:
    """The story id for each article about to be inserted, chosen BEFORE the write transaction
    (PostgreSQL, `session` bound to the engine): the candidates are read through `session` (a
    read that need not be a transaction), matched with no transaction open, and the new stories
    created in their own short one under their band keys' locks (`_create_locked`), as in
    `assign_stories`. The write then only inserts the articles with these ids and counts them in
    (`assign_stories(..., chosen=...)`); if it fails, the stories created here stay empty and
    the retry's match finds them. `quiet`: held while matching and creating (see `pipeline._quiet`)."""
    quiet = quiet or contextlib.nullcontext()
    assert isinstance(session.bind, AsyncEngine) and session.get_bind().dialect.name == "postgresql"
    keys_of = _keys_of(signatures, bands)
    known = await _candidates(session, {k for ks in keys_of for k in ks})
    async with quiet:
        picks = _match(titles, signatures, keys_of, known)
        if _distinct_new(picks):
            await _create_locked(session.bind, picks, titles, signatures, keys_of, set(known.signatures))
    return [p if isinstance(p, int) else p.id for p in picks]


async def assign_stories(
    session: AsyncSession,
    titles: Sequence[str | None],
    signatures: Sequence[bytes | None],
    bands: Sequence[Sequence[int] | None] | None = None,
    *,
    chosen: Sequence[int | None] | None = None,
) -> list[int]:
    """The story id for each article about to be stored: a matching recent story, or a new one.

    Batched for many feeds' worth of articles: one candidate query, one insert of new stories, one
    of their band keys, one update of the stories that grew. Articles in the same batch group with
    each other too. Articles too short to compare each get a story of their own. `chosen`: per
    article, a story assigned before the transaction (`assign_ahead`), or None to assign here.
    """
    assert len(titles) == len(signatures)
    if chosen is not None and any(c is not None for c in chosen):
        rest = [i for i, c in enumerate(chosen) if c is None]
        given = bands if bands is not None else [None] * len(signatures)
        found = iter(await assign_stories(
            session, [titles[i] for i in rest], [signatures[i] for i in rest], [given[i] for i in rest]) if rest else [])
        _count_in(session, {}, [c for c in chosen if c is not None])
        return [c if c is not None else next(found) for c in chosen]
    keys_of = _keys_of(signatures, bands)
    dialect = session.get_bind().dialect.name
    shared = dialect == "postgresql" and isinstance(session.bind, AsyncEngine)
    if dialect == "sqlite":
        # Take SQLite's write lock before reading the candidates (the driver begins a transaction
        # at the first write), so a second writer waits and then sees this one's new stories.
        await session.execute(_TAKE_WRITE_LOCK)
    known = await _candidates(session, {k for ks in keys_of for k in ks})
    picks = _match(titles, signatures, keys_of, known)
    new = _distinct_new(picks)
    if new and shared:
        assert isinstance(session.bind, AsyncEngine)
        await _create_locked(session.bind, picks, titles, signatures, keys_of, set(known.signatures))
    elif new:
        # One writer at a time already (SQLite's lock, or a session bound to one connection).
        await _insert_new(session, new)
    if shared:
        _count_in(session, {}, [p if isinstance(p, int) else p.id for p in picks])
    else:
        grown: dict[int, int] = {}
        for p in picks:
            if isinstance(p, int):
                grown[p] = grown.get(p, 0) + 1
        if grown:
            now = utcnow()
            await session.execute(_BUMP, [{"b_id": sid, "b_n": n, "b_now": now} for sid, n in sorted(grown.items())])
    return [p if isinstance(p, int) else p.id for p in picks]


def _count_in(session: AsyncSession, grown: dict[int, int], ids: Sequence[int]) -> None:
    for sid in ids:
        grown[sid] = grown.get(sid, 0) + 1
    if grown:
        _bump_before_commit(session, grown)


async def write_counts(session: AsyncSession) -> None:
    """Count the articles assigned so far into their stories now rather than at commit: the
    ingester does it before taking the statement locks, so that they are not held through it."""
    await session.run_sync(_write_bumps)


_BUMPS = "story_bumps"  # session.info key: articles counted into stories, not yet written


def _bump_before_commit(session: AsyncSession, grown: dict[int, int]) -> None:
    """Count articles into their stories as the transaction's last statement.

    The UPDATE locks each story row until commit, and a wire story is counted into by every
    ingester at once: written when the stories are assigned, it would hold the row through the
    rest of the ingest transaction (articles, statements, feeds) while other ingesters queue on it.
    """
    sync = session.sync_session
    if not event.contains(sync, "before_commit", _write_bumps):
        event.listen(sync, "before_commit", _write_bumps)
        event.listen(sync, "after_soft_rollback", _drop_bumps)
    pending: dict[int, int] = sync.info.setdefault(_BUMPS, {})
    for sid, n in grown.items():
        pending[sid] = pending.get(sid, 0) + n


def _write_bumps(sync: Session) -> None:
    pending: dict[int, int] = sync.info.pop(_BUMPS, {})
    if pending:
        now = utcnow()
        # in story id order: two ingesters counting into the same stories cannot deadlock
        sync.execute(_BUMP, [{"b_id": sid, "b_n": n, "b_now": now} for sid, n in sorted(pending.items())])


def _drop_bumps(sync: Session, _previous: Any) -> None:
    sync.info.pop(_BUMPS, None)
