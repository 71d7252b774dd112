"""A feed poll in two stages: fetch + parse (many at once, no transaction held), then write.

`fetch_and_parse` never touches the database. `write_batch` stores what several polls learnt in
ONE transaction: their articles (one `store_articles` call, stories included), the 304s and
failures (one executemany each), and every feed row's validators, next check time (adaptive, or
backed off after an error) and health columns, committed together with the feed's articles. Why
batches: on SQLite there is one writer, and per-feed transactions spend the cycle on round trips
to the database thread rather than on work. An error is a value: logged, counted, written to the
feed, and the cycle goes on; a batch that cannot be written is retried feed by feed, so one bad
feed never costs the others their articles.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, Stored, store_articles
from bot.archive.hooks import after_store_many
from bot.archive.statement_store import Matched, match_ahead
from bot.config import AppConfig
from bot.fulltext.queue import for_full_text
from bot.ingest.parse import ParsedFeed
from bot.ingest.schedule import adaptive_interval, next_check_after_failure, next_check_after_success
from bot.net.fetch import FetchResult, SafeFetcher
from bot.statements import Statement as Found
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
# matches no row).
_NOT_MODIFIED = (
    update(_FEEDS)
    .where(_FEEDS.c.id == bindparam("b_id"))
    .values(
        interval_s=bindparam("b_interval"),
        next_check_at=bindparam("b_next"),
        last_checked_at=bindparam("b_now"),
        last_success_at=bindparam("b_now"),
        consecutive_failures=0,
        last_error=None,
        lease_owner=None,
        lease_until=None,
    )
)
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


async def _write(session: AsyncSession, batch: Sequence[Polled], config: AppConfig, ahead: Matched | None = None) -> list[FeedOutcome]:
    """Everything a batch of polls learnt, in the caller's transaction."""
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
        outcomes += await _store_parsed(session, parsed, config, ahead)
    return outcomes


async def _store_parsed(session: AsyncSession, batch: Sequence[Polled], config: AppConfig, ahead: Matched | None) -> list[FeedOutcome]:
    limits = config.ingest
    ids = [p.job.id for p in batch]
    feeds = {
        f.id: f
        for f in (
            await session.execute(select(Feed).where(Feed.id.in_(ids)).execution_options(populate_existing=True))
        ).scalars()
    }
    outcomes: list[FeedOutcome] = []
    live: list[tuple[Polled, Feed, FeedOutcome, slice]] = []
    items: list[ArticleIn] = []
    extracted: list[list[Found] | None] = []
    for p in batch:
        assert p.parsed is not None
        out = FeedOutcome(p.job.url, "fetched", entries=len(p.parsed.entries))
        outcomes.append(out)
        feed = feeds.get(p.job.id)
        if feed is None:  # removed while we fetched
            continue
        arts = articles_of(p.job, p.parsed, p.seen_at, full_text=feed.full_text, alerts=feed.backfilled)
        live.append((p, feed, out, slice(len(items), len(items) + len(arts))))
        items += arts
        extracted += [e.statements for e in p.parsed.entries]  # by the parse workers, or None
    stored: list[Stored] = await store_articles(session, items, stories=True)
    alerts = [feed.backfilled for _p, feed, _out, part in live for _ in range(part.start, part.stop)]
    found = await after_store_many(session, list(zip(stored, alerts, strict=True)), config, extracted, ahead)
    for _p, _feed, out, part in live:
        for s, n in zip(stored[part], found[part], strict=True):
            out.statements += n
            if s.outcome == "new":
                out.new += 1
            elif s.outcome == "updated":
                out.updated += 1
    for p, feed, out, _part in live:
        assert p.parsed is not None and p.fetched is not None
        now = p.seen_at
        dates = [e.published_at for e in p.parsed.entries if e.published_at and not e.published_inferred]
        feed.interval_s = adaptive_interval(feed.interval_s or 900, dates, out.new, limits.min_interval_s, limits.max_interval_s)
        _succeeded(feed, p.fetched, now, limits.max_interval_s)
        feed.title = feed.title or (p.parsed.title or "")[:500] or None
        feed.backfilled = True
        if out.new:
            feed.last_new_at = now
    return outcomes


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


async def _match_ahead(sessions: async_sessionmaker[AsyncSession], batch: Sequence[Polled]) -> Matched | None:
    """The batch's statements matched before its write transaction (see `match_ahead`): the
    articles and extracted statements as `_store_parsed` will hand them over if every feed is
    still there."""
    items: list[ArticleIn] = []
    found: list[list[Found] | None] = []
    for p in batch:
        if p.status == "parsed" and p.parsed is not None:
            items += articles_of(p.job, p.parsed, p.seen_at)
            found += [e.statements for e in p.parsed.entries]
    return await match_ahead(sessions, items, found) if items else None


def _retryable(exc: Exception) -> bool:
    # IntegrityError: another worker stored one of these articles between our lookup and insert;
    # the retry finds it and links to it. A lock error: SQLite's writer lock was busy too long.
    return isinstance(exc, IntegrityError) or (isinstance(exc, OperationalError) and "lock" in str(exc).lower())


async def _write_once(
    sessions: async_sessionmaker[AsyncSession], batch: Sequence[Polled], config: AppConfig, attempts: int = 3
) -> list[FeedOutcome]:
    for attempt in range(attempts):
        try:
            # Afresh at each attempt: a failed one may have used the matches up.
            ahead = await _match_ahead(sessions, batch)
            async with sessions.begin() as session:
                return await _write(session, batch, config, ahead)
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

