"""A feed poll in two stages: fetch + parse (many at once, no transaction held), then write.

`fetch_and_parse` never touches the database. `write_batch` stores what several polls learnt in
ONE transaction: their articles (one `store_articles` call, stories included), the 304s and
failures (one executemany each), and every feed row's validators, next check time (adaptive, or
backed off after an error) and health columns, committed together with the feed's articles.

The write transaction only writes (`_prepare` decides first, with none open): on PostgreSQL every
ingester's backends would otherwise sit "idle in transaction", holding locks others wait for,
while Python works. Which articles are new, their stories and their statements' matches are
settled before it; in it, a handful of statements, the statements' locks taken last. Why
batches: on SQLite there is one writer, and per-feed transactions spend the cycle on round trips
to the database thread rather than on work. An error is a value: logged, counted, written to the
feed, and the cycle goes on; a batch that cannot be written is retried feed by feed, so one bad
feed never costs the others their articles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, Stored, plan, store_articles
from bot.archive.hooks import after_store_many
from bot.archive.statement_store import Matched, catch_up, match_read, read_ahead
from bot.archive.stories import assign_ahead, signature, write_counts
from bot.config import AppConfig
from bot.fulltext.queue import for_full_text
from bot.ingest.parse import ParsedFeed
from bot.ingest.schedule import adaptive_interval, next_check_after_failure, next_check_after_success
from bot.net.fetch import FetchResult, SafeFetcher
from bot.statements.model import Statement as Found
from bot.store.db import one_of
from bot.store.models import Feed, utcnow
from bot.text.urls import host_of

log = logging.getLogger("bot.ingest")

FEED_POLLS = Counter("newsbot_ingest_feed_polls_total", "Feed polls by outcome", ["outcome"])
ARTICLES = Counter("newsbot_ingest_articles_total", "Feed entries stored, by outcome", ["outcome"])

ParseFn = Callable[[bytes, str, str], Awaitable[ParsedFeed]]


@dataclass(frozen=True)
class FeedJob:
    """What a worker needs to know about a leased feed, detached from any session."""

    id: int
    url: str
    title: str | None
    topics: tuple[str, ...]
    etag: str | None
    last_modified: str | None
    interval_s: int
    failures: int
    backfilled: bool

    @classmethod
    def of(cls, feed: Feed) -> FeedJob:
        return cls(
            id=feed.id,
            url=feed.url,
            title=feed.title,
            topics=tuple(feed.topics.split()),
            etag=feed.etag,
            last_modified=feed.last_modified,
            interval_s=feed.interval_s or 900,
            failures=feed.consecutive_failures or 0,
            backfilled=bool(feed.backfilled),
        )


@dataclass
class FeedOutcome:
    url: str
    status: str  # fetched | not_modified | failed
    new: int = 0
    updated: int = 0
    entries: int = 0
    statements: int = 0
    error: str | None = None


def _outlet(job: FeedJob, parsed: ParsedFeed) -> str:
    name = job.title or parsed.title or host_of(parsed.link or "") or host_of(job.url)
    return name[:200]


def articles_of(job: FeedJob, parsed: ParsedFeed, now: datetime, *, full_text: str = "never", alerts: bool = True) -> list[ArticleIn]:
    """The feed's entries as the archive takes them; a summary's page is queued per the feed's `full_text`."""
    outlet = _outlet(job, parsed)
    return [
        for_full_text(ArticleIn(
            text=e.text,
            title=e.title,
            guid=e.guid,
            url=e.url,
            outlet=outlet,
            author=e.author,
            published_at=e.published_at or now,  # no date anywhere: the first time we saw it
            published_inferred=e.published_inferred or e.published_at is None,
            topics=tuple(sorted(set(e.topics) | set(job.topics))),
            feed_id=job.id,
            origin="feed",
            summary_only=e.summary_only,
            digest=e.digest or None,
            signature=e.signature,
            bands=e.bands or None,
        ), full_text, alerts=alerts, looks_summary=e.looks_summary)
        for e in parsed.entries
    ]


@dataclass
class Polled:
    """What fetching and parsing one feed learnt, waiting to be written."""

    job: FeedJob
    status: str  # parsed | not_modified | failed
    fetched: FetchResult | None = None
    parsed: ParsedFeed | None = None
    error: str | None = None
    retry_after_s: float | None = None
    seen_at: datetime = field(default_factory=utcnow)

    @property
    def size(self) -> int:
        return len(self.parsed.entries) if self.parsed is not None else 0


async def fetch_and_parse(job: FeedJob, fetcher: SafeFetcher, parse: ParseFn) -> Polled:
    """Fetch and parse one leased feed; never raises, never opens a transaction."""
    try:
        fetched = await fetcher.get(job.url, etag=job.etag, last_modified=job.last_modified)
        if fetched.error:
            return Polled(job, "failed", error=fetched.error, retry_after_s=fetched.retry_after_s)
        if fetched.not_modified:
            return Polled(job, "not_modified", fetched=fetched)
        parsed = await parse(fetched.body, fetched.url, fetched.content_type)
        fetched.body = b""  # the bytes are not needed past this point; free them early
        if parsed.error:
            return Polled(job, "failed", error=parsed.error)
        return Polled(job, "parsed", fetched=fetched, parsed=parsed)
    except Exception as exc:  # a bug on one feed must not end the cycle
        log.exception("feed %s: unexpected error", job.url)
        return Polled(job, "failed", error=f"internal error: {type(exc).__name__}: {str(exc)[:200]}")


def _success_values(job: FeedJob, interval: int, fetched: FetchResult, now: datetime, max_s: int) -> dict[str, object]:
    wait = next_check_after_success(interval, fetched.max_age_s, max_s)
    return {
        "b_id": job.id,
        "b_interval": interval,
        "b_next": now + timedelta(seconds=wait),
        "b_now": now,
    }


_FEEDS: Table = Feed.__table__  # type: ignore[assignment]

# Core executemany statements (one round trip for a whole batch; a feed removed meanwhile simply
# matches no row). What any successful check writes: the next check, the failures cleared, the lease released.
_SUCCEEDED: dict[str, Any] = {
    "interval_s": bindparam("b_interval"),
    "next_check_at": bindparam("b_next"),
    "last_checked_at": bindparam("b_now"),
    "last_success_at": bindparam("b_now"),
    "consecutive_failures": 0,
    "last_error": None,
    "lease_owner": None,
    "lease_until": None,
}
_NOT_MODIFIED = update(_FEEDS).where(_FEEDS.c.id == bindparam("b_id")).values(**_SUCCEEDED)
_FAILED = (
    update(_FEEDS)
    .where(_FEEDS.c.id == bindparam("b_id"))
    .values(
        consecutive_failures=bindparam("b_failures"),
        last_error=bindparam("b_error"),
        last_error_at=bindparam("b_now"),
        last_checked_at=bindparam("b_now"),
        next_check_at=bindparam("b_next"),
        lease_owner=None,
        lease_until=None,
    )
)


def _failure_values(p: Polled, config: AppConfig) -> dict[str, object]:
    limits = config.ingest
    # The failure count read at lease time is current: the lease keeps every other worker away.
    failures = p.job.failures + 1
    delay = next_check_after_failure(failures, p.retry_after_s, limits.min_interval_s, limits.max_interval_s)
    return {
        "b_id": p.job.id,
        "b_failures": failures,
        "b_error": (p.error or "unknown error")[:2000],
        "b_now": p.seen_at,
        "b_next": p.seen_at + timedelta(seconds=delay),
    }


@dataclass
class _FeedNow:
    """A leased feed's columns the write needs, read as it is prepared."""

    id: int
    full_text: str
    backfilled: bool
    interval_s: int


@dataclass
class _Prepared:
    """A batch's articles, ready to write: made, planned and matched before the write transaction."""

    live: list[tuple[Polled, _FeedNow, slice]] = field(default_factory=list)
    items: list[ArticleIn] = field(default_factory=list)
    found: list[list[Found] | None] = field(default_factory=list)  # by the parse workers, or None
    statements: Matched | None = None
    stories: dict[ArticleIn, int] = field(default_factory=dict)


_quiet_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _quiet() -> asyncio.Lock:
    """The process's write transactions and the heavy Python work of preparing writes take turns.

    Why: a backend waits for its process to send the next statement, and one process's event
    loop serves all its writers. While one writer holds statement locks (until its commit), a
    second writer matching a batch's statements (tens of milliseconds of Python, no await) would
    keep the first from sending its next statement, and every other ingester waiting on those
    locks would wait for it too. Reads and fetching still overlap with a write."""
    loop = asyncio.get_running_loop()
    lock = _quiet_locks.get(loop)
    if lock is None:
        lock = _quiet_locks[loop] = asyncio.Lock()
    return lock


@contextlib.asynccontextmanager
async def _reading(sessions: async_sessionmaker[AsyncSession], postgres: bool) -> AsyncIterator[AsyncSession]:
    """A session for reads that need no transaction: on PostgreSQL each runs on its own (autocommit),
    so no backend sits idle in a transaction while Python works between them; each still reads
    only committed rows, as it would in a read-committed transaction."""
    async with sessions() as session:
        if postgres:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
        await session.commit()  # words read are kept at commit (statement_words)


def _postgres(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Sessions on a PostgreSQL engine (not one connection): reads and writes on connections of their own."""
    bind = sessions.kw.get("bind")
    return isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql"


async def _prepare(session: AsyncSession, batch: Sequence[Polled], postgres: bool) -> _Prepared:
    """Everything the write can decide before its transaction, read through `session` (see
    `_reading`): the feeds' articles, which are new or changed as the archive reads now, the new
    ones' stories (PostgreSQL; new stories created in short transactions of their own), their
    statements matched. The write decides again and only re-checks what may have changed
    meanwhile, so its transaction is a few round trips of writes."""
    prep = _Prepared()
    parsed = [p for p in batch if p.status == "parsed" and p.parsed is not None]
    if not parsed:
        return prep
    read = None
    query = select(_FEEDS.c.id, _FEEDS.c.full_text, _FEEDS.c.backfilled, _FEEDS.c.interval_s).where(
        one_of(_FEEDS.c.id, [p.job.id for p in parsed], session.get_bind().dialect.name))  # one text: prepared once
    feeds = {r.id: _FeedNow(r.id, r.full_text, bool(r.backfilled), r.interval_s or 900) for r in await session.execute(query)}
    for p in parsed:
        assert p.parsed is not None
        feed = feeds.get(p.job.id)
        if feed is None:  # removed while we fetched
            continue
        arts = articles_of(p.job, p.parsed, p.seen_at, full_text=feed.full_text, alerts=feed.backfilled)
        prep.live.append((p, feed, slice(len(prep.items), len(prep.items) + len(arts))))
        prep.items += arts
        prep.found += [e.statements for e in p.parsed.entries]
    if not prep.items:
        return prep
    planned = await plan(session, prep.items)
    if all(f is not None for f in prep.found):
        of = [f for f, (_o, changed) in zip(prep.found, planned, strict=True) if changed and f is not None]
        read = await read_ahead(session, of)
    new = [i for i, (outcome, _c) in zip(prep.items, planned, strict=True) if outcome == "new"]
    if postgres and new:
        sigs = [i.signature if i.signature is not None else signature(i.title, i.text) for i in new]
        keys = [i.bands if i.signature is not None else None for i in new]
        ids = await assign_ahead(session, [i.title for i in new], sigs, keys, _quiet())
        prep.stories = dict(zip(new, ids, strict=True))
    if read is not None:
        async with _quiet():
            prep.statements = match_read(read)
    return prep


async def _write(session: AsyncSession, batch: Sequence[Polled], config: AppConfig, prep: _Prepared) -> list[FeedOutcome]:
    """Everything a batch of polls learnt, in the caller's transaction: writes, the statement
    locks taken last (see `_store_parsed`)."""
    limits = config.ingest
    outcomes: list[FeedOutcome] = []
    quiet = [p for p in batch if p.status == "not_modified"]
    if quiet:
        rows = []
        for p in quiet:
            assert p.fetched is not None
            interval = adaptive_interval(p.job.interval_s, [], 0, limits.min_interval_s, limits.max_interval_s)
            rows.append(_success_values(p.job, interval, p.fetched, p.seen_at, limits.max_interval_s))
            outcomes.append(FeedOutcome(p.job.url, "not_modified"))
        await session.execute(_NOT_MODIFIED, rows)
    failed = [p for p in batch if p.status == "failed"]
    if failed:
        for p in failed:
            log.warning("feed failed: %s: %s", p.job.url, p.error)
            outcomes.append(FeedOutcome(p.job.url, "failed", error=p.error))
        await session.execute(_FAILED, [_failure_values(p, config) for p in failed])
    parsed = [p for p in batch if p.status == "parsed"]
    if parsed:
        outcomes += await _store_parsed(session, parsed, config, prep)
    return outcomes


# The feed rows of a batch's fetched feeds, one executemany. The title is kept if the feed has one.
_PARSED = (
    update(_FEEDS)
    .where(_FEEDS.c.id == bindparam("b_id"))
    .values(
        **_SUCCEEDED,
        etag=bindparam("b_etag"),
        last_modified=bindparam("b_last_modified"),
        title=func.coalesce(func.nullif(_FEEDS.c.title, ""), bindparam("b_title", type_=_FEEDS.c.title.type)),
        backfilled=True,
        last_new_at=func.coalesce(bindparam("b_new_at", type_=_FEEDS.c.last_new_at.type), _FEEDS.c.last_new_at),
    )
)


def _parsed_values(p: Polled, feed: _FeedNow, new: int, max_s: int, min_s: int) -> dict[str, object]:
    assert p.parsed is not None and p.fetched is not None
    now = p.seen_at
    dates = [e.published_at for e in p.parsed.entries if e.published_at and not e.published_inferred]
    interval = adaptive_interval(feed.interval_s, dates, new, min_s, max_s)
    headers = p.fetched.headers
    return _success_values(p.job, interval, p.fetched, now, max_s) | {
        "b_etag": (headers.get("etag") or "")[:500] or None,
        "b_last_modified": (headers.get("last-modified") or "")[:100] or None,
        "b_title": (p.parsed.title or "")[:500] or None,
        "b_new_at": now if new else None,
    }


async def _store_parsed(session: AsyncSession, batch: Sequence[Polled], config: AppConfig, prep: _Prepared) -> list[FeedOutcome]:
    """The articles (stories chosen already), the feed rows, the streams and story counts, then
    the statements last: their locks are held until commit, so only their own few statements run
    under them."""
    limits = config.ingest
    outcomes: dict[int, FeedOutcome] = {}
    for p in batch:
        assert p.parsed is not None
        outcomes[id(p)] = FeedOutcome(p.job.url, "fetched", entries=len(p.parsed.entries))
    if prep.items:
        stored: list[Stored] = await store_articles(session, prep.items, stories=True, chosen=prep.stories)
        rows = []
        for p, feed, part in prep.live:
            out = outcomes[id(p)]
            for s in stored[part]:
                if s.outcome == "new":
                    out.new += 1
                elif s.outcome == "updated":
                    out.updated += 1
            rows.append(_parsed_values(p, feed, out.new, limits.max_interval_s, limits.min_interval_s))
        await session.execute(_PARSED, rows)
        await write_counts(session)
        alerts = [feed.backfilled for _p, feed, part in prep.live for _ in range(part.start, part.stop)]
        found = await after_store_many(session, list(zip(stored, alerts, strict=True)), config, prep.found, prep.statements)
        for p, _feed, part in prep.live:
            outcomes[id(p)].statements += sum(found[part])
    return [outcomes[id(p)] for p in batch]


def _retryable(exc: Exception) -> bool:
    # IntegrityError: another worker stored one of these articles between our lookup and insert;
    # the retry finds it and links to it. A lock error: SQLite's writer lock was busy too long.
    return isinstance(exc, IntegrityError) or (isinstance(exc, OperationalError) and "lock" in str(exc).lower())


async def _write_once(
    sessions: async_sessionmaker[AsyncSession], batch: Sequence[Polled], config: AppConfig, attempts: int = 3
) -> list[FeedOutcome]:
    """Prepare, then write; on PostgreSQL the preparing reads stay open (autocommit, no
    transaction) to catch the statements up once more, under the process's write turn, just
    before the write transaction begins."""
    for attempt in range(attempts):
        try:
            # Afresh at each attempt: a failed one may have used the matches up.
            postgres = _postgres(sessions)
            async with contextlib.AsyncExitStack() as reading:
                reader = await reading.enter_async_context(_reading(sessions, postgres))
                prep = await _prepare(reader, batch, postgres)
                if not postgres:  # SQLite: its one connection is the writer's
                    await reading.aclose()
                async with _quiet():
                    if prep.statements is not None and postgres:
                        await catch_up(reader, prep.statements)
                    async with sessions.begin() as session:
                        return await _write(session, batch, config, prep)
        except Exception as exc:
            if attempt == attempts - 1 or not _retryable(exc):
                raise
        await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def write_batch(
    sessions: async_sessionmaker[AsyncSession], batch: Sequence[Polled], config: AppConfig
) -> list[FeedOutcome]:
    """Write a batch of polls in one transaction; if that fails, feed by feed, so one bad feed
    (a bug, a row the database rejects) is recorded as failing and the rest are stored."""
    try:
        outcomes = await _write_once(sessions, batch, config)
    except Exception as exc:
        if len(batch) == 1 and batch[0].status != "parsed":
            raise  # a plain feed-row update failed: the database itself is in trouble
        log.warning("ingest: batch of %d feeds not written (%s); writing them one by one", len(batch), type(exc).__name__)
        outcomes = []
        for p in batch:
            try:
                outcomes += await _write_once(sessions, [p], config)
            except Exception as one:
                if p.status != "parsed":
                    raise
                log.exception("feed %s: could not be stored", p.job.url)
                why = f"internal error: {type(one).__name__}: {str(one)[:200]}"
                outcomes += await _write_once(sessions, [Polled(p.job, "failed", error=why)], config)
    for o in outcomes:
        FEED_POLLS.labels(o.status).inc()
        ARTICLES.labels("new").inc(o.new)
        ARTICLES.labels("updated").inc(o.updated)
    return outcomes

