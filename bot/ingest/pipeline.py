"""One feed, start to finish: fetch (no transaction held) -> parse (off the loop) -> store (one transaction).

Everything a poll learns lands on the feed row in the same transaction as its articles: the
conditional-GET validators, the next check time (adaptive, or backed off after an error), and the
health columns. An error is a value: logged, counted, written to the feed, and the cycle goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive import ArticleIn, Stored, store_articles
from bot.config import AppConfig
from bot.fulltext.queue import mark_for_full_text
from bot.ingest.fetch import FetchResult, SafeFetcher
from bot.ingest.parse import ParsedFeed
from bot.ingest.schedule import adaptive_interval, next_check_after_failure, next_check_after_success
from bot.ingest.urls import host_of
from bot.pipeline_hooks import after_store
from bot.store.models import Feed, utcnow
from bot.stories import assign_stories

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


def articles_of(job: FeedJob, parsed: ParsedFeed, now: datetime) -> list[ArticleIn]:
    outlet = _outlet(job, parsed)
    return [
        ArticleIn(
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
        )
        for e in parsed.entries
    ]


async def _store(
    session: AsyncSession, job: FeedJob, parsed: ParsedFeed, fetched: FetchResult, config: AppConfig, now: datetime
) -> FeedOutcome:
    limits = config.ingest
    out = FeedOutcome(job.url, "fetched", entries=len(parsed.entries))
    feed = await session.get(Feed, job.id, populate_existing=True)
    if feed is None:  # removed while we fetched
        return out
    backfill = not feed.backfilled
    stored: list[Stored] = await store_articles(session, articles_of(job, parsed, now))
    for s in stored:
        mark_for_full_text(s, feed.full_text, alerts=not backfill)  # issue #6: a summary queues its page
        out.statements += await after_store(session, s, config, alerts=not backfill)
        if s.outcome == "new":
            out.new += 1
        elif s.outcome == "updated":
            out.updated += 1
    fresh = [(s.article, e.signature) for s, e in zip(stored, parsed.entries, strict=True) if s.outcome == "new"]
    if fresh:  # last: on PostgreSQL it takes a lock held until commit
        await assign_stories(session, [a for a, _ in fresh], [sig for _, sig in fresh])
    dates = [e.published_at for e in parsed.entries if e.published_at and not e.published_inferred]
    feed.interval_s = adaptive_interval(feed.interval_s or 900, dates, out.new, limits.min_interval_s, limits.max_interval_s)
    _succeeded(feed, fetched, now, limits.max_interval_s)
    feed.title = feed.title or (parsed.title or "")[:500] or None
    feed.backfilled = True
    if out.new:
        feed.last_new_at = now
    return out


def _succeeded(feed: Feed, fetched: FetchResult, now: datetime, max_s: int) -> None:
    if not fetched.not_modified:
        feed.etag = (fetched.headers.get("etag") or "")[:500] or None
        feed.last_modified = (fetched.headers.get("last-modified") or "")[:100] or None
    feed.last_checked_at = now
    feed.last_success_at = now
    feed.consecutive_failures = 0
    feed.last_error = None
    wait = next_check_after_success(feed.interval_s, fetched.max_age_s, max_s)
    feed.next_check_at = now + timedelta(seconds=wait)
    feed.lease_owner = None
    feed.lease_until = None


async def record_not_modified(
    sessions: async_sessionmaker[AsyncSession], job: FeedJob, fetched: FetchResult, config: AppConfig
) -> FeedOutcome:
    """A 304 is the common case of a steady-state cycle: one UPDATE, no row loaded."""
    limits = config.ingest
    now = utcnow()
    interval = adaptive_interval(job.interval_s, [], 0, limits.min_interval_s, limits.max_interval_s)
    wait = next_check_after_success(interval, fetched.max_age_s, limits.max_interval_s)
    async with sessions.begin() as session:
        await session.execute(
            update(Feed)
            .where(Feed.id == job.id)
            .values(
                interval_s=interval,
                next_check_at=now + timedelta(seconds=wait),
                last_checked_at=now,
                last_success_at=now,
                consecutive_failures=0,
                last_error=None,
                lease_owner=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
    return FeedOutcome(job.url, "not_modified")


async def record_failure(
    sessions: async_sessionmaker[AsyncSession], job: FeedJob, error: str, config: AppConfig, retry_after_s: float | None = None
) -> FeedOutcome:
    limits = config.ingest
    now = utcnow()
    log.warning("feed failed: %s: %s", job.url, error)
    async with sessions.begin() as session:
        feed = await session.get(Feed, job.id, populate_existing=True)
        if feed is not None:
            feed.consecutive_failures = (feed.consecutive_failures or 0) + 1
            feed.last_error = error[:2000]
            feed.last_error_at = now
            feed.last_checked_at = now
            delay = next_check_after_failure(
                feed.consecutive_failures, retry_after_s, limits.min_interval_s, limits.max_interval_s
            )
            feed.next_check_at = now + timedelta(seconds=delay)
            feed.lease_owner = None
            feed.lease_until = None
    return FeedOutcome(job.url, "failed", error=error)


async def poll_feed(
    job: FeedJob,
    *,
    sessions: async_sessionmaker[AsyncSession],
    fetcher: SafeFetcher,
    parse: ParseFn,
    config: AppConfig,
    store_gate: asyncio.Semaphore,
) -> FeedOutcome:
    """Poll one leased feed; always returns an outcome and always releases the lease."""
    try:
        outcome = await _poll(job, sessions, fetcher, parse, config, store_gate)
    except Exception as exc:  # a bug or a database hiccup on one feed must not end the cycle
        log.exception("feed %s: unexpected error", job.url)
        outcome = await record_failure(sessions, job, f"internal error: {type(exc).__name__}: {str(exc)[:200]}", config)
    FEED_POLLS.labels(outcome.status).inc()
    ARTICLES.labels("new").inc(outcome.new)
    ARTICLES.labels("updated").inc(outcome.updated)
    return outcome


async def _poll(
    job: FeedJob,
    sessions: async_sessionmaker[AsyncSession],
    fetcher: SafeFetcher,
    parse: ParseFn,
    config: AppConfig,
    store_gate: asyncio.Semaphore,
) -> FeedOutcome:
    fetched = await fetcher.get(job.url, etag=job.etag, last_modified=job.last_modified)
    if fetched.error:
        return await record_failure(sessions, job, fetched.error, config, fetched.retry_after_s)
    if fetched.not_modified:
        return await record_not_modified(sessions, job, fetched, config)
    parsed = await parse(fetched.body, fetched.url, fetched.content_type)
    fetched.body = b""  # the bytes are not needed past this point; free them early
    if parsed.error:
        return await record_failure(sessions, job, parsed.error, config)
    for attempt in range(3):
        try:
            async with store_gate, sessions.begin() as session:
                return await _store(session, job, parsed, fetched, config, utcnow())
        except IntegrityError:
            # Another worker stored one of these articles between our lookup and insert: the
            # retry finds it and links to it instead.
            if attempt == 2:
                raise
        except OperationalError as exc:
            if attempt == 2 or "lock" not in str(exc).lower():
                raise
        await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
