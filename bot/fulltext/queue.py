"""The full-text queue: fetch linked pages in the background, politely, and store the story.

Durable by design: the articles table is the queue (`fulltext_status = 'queued'`), so nothing is
lost on a restart. A run claims due rows by moving their `fulltext_next_at` forward (a lease: a
worker that dies leaves them due again once it runs out), fetches each page through the safe
fetcher under robots.txt and the per-origin limiter, extracts off the event loop, and ends every
row in one of:
- `fetched`: the page's text replaced the summary (the summary is kept as a revision), the search
  index follows by trigger, statement extraction ran again and new statements were alerted once;
- `blocked`: robots.txt disallows the page (it is never requested);
- `failed`: the page could not be read, or held no story (consent wall, paywall teaser, error
  page, text too short or unlike the summary); the feed's summary stays, marked summary only.
429/Retry-After and transient errors put the row back with a due time instead, up to
`fulltext.max_attempts`. The feed cycle only marks rows queued, so it is never slowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, Stored, content_hash, plan, store_article
from bot.archive.figures import tracked_figures
from bot.archive.hooks import after_store_many
from bot.archive.statement_store import Matched, catch_up, match_read, read_ahead
from bot.config import AppConfig, Settings
from bot.fulltext.extract import HTML_ACCEPT, HTML_TYPES, PageDoc, extract_page, user_agent
from bot.net.ratelimit import HostLimiter, origin_of
from bot.net.robots import RobotsCache
from bot.runtime.metrics import FULLTEXT_PAGES, FULLTEXT_QUEUED
from bot.statements import Gazetteer, extract_with
from bot.statements import Statement as Found
from bot.statements.figures import Figure
from bot.store.db import one_by_one
from bot.store.models import Article, utcnow
from bot.text.prepare import article_topics
from bot.text.teaser import judge_page, needs_full_text

if TYPE_CHECKING:
    from bot.net.fetch import SafeFetcher

log = logging.getLogger("bot.fulltext")


LEASE_S = 600.0
RETRY_BASE_S = 60.0
WRITE_BATCH = 20  # extracted pages stored per transaction
OUTCOMES = ("fetched", "blocked_robots", "failed", "rejected", "retried", "throttled")


@dataclass(frozen=True)
class Job:
    """A claimed queue row, detached from any session."""

    id: int
    url: str
    summary: str
    attempts: int
    backfill: bool = False  # queued from a feed's first fetch: statements stored, never alerted


@dataclass
class RunStats:
    claimed: int = 0
    fetched: int = 0
    blocked_robots: int = 0
    failed: int = 0  # includes `rejected`
    rejected: int = 0  # fetched, but a consent wall, paywall teaser or error page
    retried: int = 0  # put back with a due time (429, transient error, robots.txt unreachable)
    throttled: int = 0  # 429/503 answers seen
    extracted: int = 0  # pages fetched and extracted, before storing
    fetch_seconds: float = 0.0  # from claim to the last page extracted
    seconds: float = 0.0  # from claim to the last page stored
    statements: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k != "reasons"}
        out["reasons"] = dict(self.reasons)
        return out


BACKFILL_NOTE = "backfill"


def for_full_text(
    item: ArticleIn, feed_full_text_mode: str, *, alerts: bool = True, looks_summary: bool | None = None
) -> ArticleIn:
    """For the ingester, before storing an entry: queue its page when the entry is only a summary.

    A pure function of the entry, so the mark goes into the article's INSERT: an entry whose text
    is a summary (or whose feed says `full_text: always`) and that links a page is stored `queued`.
    It only takes effect on a new article (an edit never re-queues). `alerts=False` (a feed's
    backfill) is remembered on the row, so statements found in the page later are stored without
    alerting old news, as the ingester does for the entry itself. `looks_summary`: the entry's
    `needs_full_text(text, "auto")`, when the parse worker has worked it out already.
    """
    if not item.url or item.fulltext_status is not None or feed_full_text_mode == "never":
        return item
    summary = needs_full_text(item.text, "auto") if looks_summary is None else looks_summary
    if not (summary if feed_full_text_mode == "auto" else needs_full_text(item.text, feed_full_text_mode)):
        return item
    return replace(
        item,
        fulltext_status="queued",
        fulltext_note=None if alerts else BACKFILL_NOTE,
        summary_only=item.summary_only or summary,
    )


async def queue_counts(session: AsyncSession) -> dict[str, int]:
    """Durable counts by status, for `/news status` in any process: queued, fetched, blocked_robots, failed."""
    rows = (
        await session.execute(
            select(Article.fulltext_status, func.count())
            .where(Article.fulltext_status.is_not(None))
            .group_by(Article.fulltext_status)
        )
    ).all()
    by = {str(status): int(n) for status, n in rows}
    return {
        "queued": by.get("queued", 0),
        "fetched": by.get("fetched", 0),
        "blocked_robots": by.get("blocked", 0),
        "failed": by.get("failed", 0),
    }


def _due(now: Any) -> Any:
    return and_(
        Article.fulltext_status == "queued",
        or_(Article.fulltext_next_at.is_(None), Article.fulltext_next_at <= now),
    )


# The columns of a queued row its page's article is made from, read before the write and checked in it.
_SEEN = ("id", "title", "guid", "url", "outlet", "topics", "feed_id", "published_at")


def _seen(article: Any) -> tuple[Any, ...]:
    return tuple(getattr(article, c) for c in _SEEN)


def _day(stored_at: datetime | None, item: ArticleIn) -> date | None:
    """The date extraction reads for the stored article: an edit keeps the row's, else takes the page's."""
    at = stored_at or item.published_at
    return at.date() if at else None


def extract_statements(texts: list[tuple[str, date | None]], figures: tuple[Figure, ...]) -> list[list[Found]]:
    """The statements of each (text, date), as `record_many` would extract them: off the event
    loop, in the service's executor."""
    gazetteer = Gazetteer.build(figures)
    return [[f for f in extract_with(text, gazetteer, day) if f.text.strip()] for text, day in texts]


@dataclass
class _Ready:
    """A page prepared for the write: its row as read, the article, the statements found ahead."""

    job: Job
    page: PageDoc
    seen: tuple[Any, ...]
    item: ArticleIn
    changed: bool = False  # to be stored with new text, as the archive read before the write
    found: list[Found] | None = None  # its statements, extracted ahead; None: extract in the write
    day: date | None = None  # the date the stored article will carry, as extraction reads it


class FullTextService:
    """Drains the queue: `run_pending` once, or `schedule` it on the bot's APScheduler."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: AppConfig,
        settings: Settings | None = None,
        fetcher: SafeFetcher | None = None,
        *,
        executor: Executor | None = None,
        lease_s: float = LEASE_S,
        retry_base_s: float = RETRY_BASE_S,
    ) -> None:
        self.sessions = sessions
        self.config = config
        ft = config.fulltext
        self.user_agent = user_agent(config)
        self._own_fetcher = fetcher is None
        if fetcher is None:
            from bot.net.fetch import SafeFetcher

            limits = config.ingest
            fetcher = SafeFetcher(
                user_agent=self.user_agent,
                timeout_s=limits.timeout_s,
                max_body_bytes=limits.max_body_bytes,
                per_host_concurrency=max(limits.per_host_concurrency, ft.per_host_concurrency),
                allow_private=bool(settings and settings.allow_private_feeds),
            )
        self.fetcher = fetcher
        self.limiter = HostLimiter(ft.rate_per_s, ft.per_host_concurrency, total=ft.concurrency)
        self.robots = RobotsCache(fetcher, self.limiter, self.user_agent)
        self._own_executor = executor is None
        # trafilatura takes a few ms a page and holds the GIL for most of it: two threads on a
        # 2-core box keep the event loop responsive (benchmarks/fulltext.py).
        self._executor = executor or ThreadPoolExecutor(max_workers=2, thread_name_prefix="fulltext")
        self.lease_s = lease_s
        self.retry_base_s = retry_base_s
        self._write_lock = asyncio.Lock()
        self._totals: Counter[str] = Counter()
        self._queued = 0

    # ---- metrics -------------------------------------------------------------------------
    def metrics(self) -> dict[str, int]:
        """This process's counts since start, plus the queue length seen by the last run."""
        out = {"queued": self._queued}
        out.update({k: int(self._totals[k]) for k in OUTCOMES})
        return out

    def _count(self, stats: RunStats, outcome: str, reason: str | None = None) -> None:
        setattr(stats, outcome, getattr(stats, outcome) + 1)
        self._totals[outcome] += 1
        FULLTEXT_PAGES.labels(outcome).inc()
        if reason:
            stats.reasons[reason] += 1

    # ---- the queue -----------------------------------------------------------------------
    async def _claim(self, limit: int) -> list[Job]:
        """Lease up to `limit` due rows; at most a run's worth per origin, the rest deferred.

        One statement takes the rows (`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
        RETURNING`): on PostgreSQL it commits by itself, so no backend holds a transaction open
        while the rows are sorted here, and rows another process is claiming are skipped, not
        waited for. Those past their origin's share are handed back with a later due time."""
        now = utcnow()
        ft = self.config.fulltext
        per_origin_cap = max(1, int(ft.rate_per_s * max(ft.interval_s, 30)))
        lease = now + timedelta(seconds=self.lease_s)
        due = select(Article.id).where(_due(now)).order_by(Article.id).limit(limit).with_for_update(skip_locked=True)
        take = (
            update(Article)
            .where(Article.id.in_(due.scalar_subquery()))
            .values(fulltext_next_at=lease)
            .returning(Article.id, Article.url, Article.text, Article.fulltext_attempts, Article.fulltext_note)
            .execution_options(synchronize_session=False)
        )
        async with self._write_lock, one_by_one(self.sessions) as session:
            rows = sorted((await session.execute(take)).all())
            taken: dict[str, int] = defaultdict(int)
            jobs: list[Job] = []
            unlinked: list[int] = []
            deferred: list[int] = []
            for art_id, url, text, attempts, note in rows:
                if not url:
                    unlinked.append(art_id)
                    continue
                origin = origin_of(url)
                if taken[origin] >= per_origin_cap:
                    deferred.append(art_id)
                    continue
                taken[origin] += 1
                backfill = bool(note and note.startswith(BACKFILL_NOTE))
                jobs.append(Job(art_id, url, text or "", attempts or 0, backfill))
            if unlinked:
                await session.execute(
                    update(Article)
                    .where(Article.id.in_(unlinked))
                    .values(fulltext_status="failed", fulltext_note="no link to fetch", summary_only=True, fulltext_next_at=None)
                    .execution_options(synchronize_session=False)
                )
            if deferred:
                # Their origins are busy for this run; come back when their share of the rate frees up.
                later = now + timedelta(seconds=per_origin_cap / ft.rate_per_s)
                await session.execute(
                    update(Article)
                    .where(Article.id.in_(deferred), Article.fulltext_next_at == lease)
                    .values(fulltext_next_at=later)
                    .execution_options(synchronize_session=False)
                )
            self._queued = int(
                (
                    await session.execute(
                        select(func.count()).select_from(Article).where(Article.fulltext_status == "queued")
                    )
                ).scalar()
                or 0
            )
        FULLTEXT_QUEUED.set(self._queued)
        return jobs

    async def run_pending(self, limit: int | None = None) -> RunStats:
        """Claim due rows and process them, each origin at its own polite pace; returns the run's counts.

        Fetching and extraction never wait for the database: extracted pages are stored once the
        fetching is done, in small batches (one transaction each, begun once the batch's statements
        are extracted and matched: see `_write`). Statement extraction is the heavy part of storing;
        kept out of the fetch phase it cannot delay a request or hold a publisher's slot. A run
        holds at most `batch` pages in memory.
        """
        stats = RunStats()
        jobs = await self._claim(limit or self.config.fulltext.batch)
        stats.claimed = len(jobs)
        by_origin: dict[str, deque[Job]] = defaultdict(deque)
        for job in jobs:
            by_origin[origin_of(job.url)].append(job)
        pages: list[tuple[Job, PageDoc]] = []

        async def origin_worker(pending: deque[Job]) -> None:
            while pending:
                job = pending.popleft()
                try:
                    page = await self._process(job, stats)
                except Exception as exc:  # one bad page never stops the run
                    log.exception("full text for article %s failed unexpectedly", job.id)
                    await self._finish(job, "failed", f"internal error: {type(exc).__name__}"[:300])
                    self._count(stats, "failed", "internal error")
                    continue
                if page is not None:
                    pages.append((job, page))

        started = time.monotonic()
        try:
            await asyncio.gather(
                *(
                    origin_worker(pending)
                    for pending in by_origin.values()
                    for _ in range(min(self.config.fulltext.per_host_concurrency, len(pending)))
                )
            )
            stats.fetch_seconds = round(time.monotonic() - started, 3)
        finally:
            # Pages already read are stored even when the run is cancelled part-way.
            for i in range(0, len(pages), WRITE_BATCH):
                await asyncio.shield(self._store_batch(pages[i : i + WRITE_BATCH], stats))
        stats.seconds = round(time.monotonic() - started, 3)
        if jobs:
            log.info("full-text run: %s", stats.as_dict())
        return stats

    async def _process(self, job: Job, stats: RunStats) -> PageDoc | None:
        """Robots, fetch, extract, judge: the page to store, or None when the row was settled here."""
        origin = origin_of(job.url)
        verdict = await self.robots.check(job.url)
        if verdict == "disallow":
            await self._finish(job, "blocked", "robots.txt disallows")
            self._count(stats, "blocked_robots")
            return None
        if verdict == "unreachable":
            await self._retry(job, stats, "robots.txt unreachable", max(self.limiter.blocked_for(origin), 600.0))
            return None
        async with self.limiter.slot(origin):
            res = await self.fetcher.get(job.url, accept=HTML_ACCEPT)
        if res.status in (429, 503):
            self._count(stats, "throttled")
            wait = self.limiter.back_off(origin, res.retry_after_s)
            await self._retry(job, stats, f"HTTP {res.status}", wait)
            return None
        if res.error:
            transient = res.status == 0 or res.status >= 500 or res.status == 408
            if transient:
                await self._retry(job, stats, res.error, self.retry_base_s * 2**job.attempts)
            else:
                await self._finish(job, "failed", res.error)
                self._count(stats, "failed", res.error.split(" (")[0])
            return None
        if res.content_type not in HTML_TYPES:
            await self._finish(job, "failed", f"not an HTML page ({res.content_type})")
            self._count(stats, "failed", "not HTML")
            return None
        page = await asyncio.get_running_loop().run_in_executor(self._executor, extract_page, res.body, res.url)
        reason = "no article text found" if page is None else judge_page(page.raw_text, page.text, summary=job.summary)
        if page is None or reason:
            await self._finish(job, "failed", reason)
            self._count(stats, "failed", reason)
            self._count(stats, "rejected")
            return None
        stats.extracted += 1
        return page

    async def _store_batch(self, batch: list[tuple[Job, PageDoc]], stats: RunStats) -> None:
        """Several pages in one transaction; if any fails, each again on its own so one bad page costs only itself."""
        try:
            new = await self._write(batch)
        except Exception:
            if len(batch) == 1:
                job = batch[0][0]
                log.exception("storing the page of article %s failed", job.id)
                await self._finish(job, "failed", "internal error while storing")
                self._count(stats, "failed", "internal error")
                return
            for item in batch:
                await self._store_batch([item], stats)
            return
        for n in new:
            if n is not None:  # None: the row was settled elsewhere meanwhile
                stats.statements += n
                self._count(stats, "fetched")

    async def _write(self, batch: list[tuple[Job, PageDoc]]) -> list[int | None]:
        """Prepare, then write, as the ingester does (`bot.ingest.pipeline`): the rows are read,
        the stored articles planned, the pages' statements extracted (in the executor) and matched
        with no transaction open (on PostgreSQL the reads autocommit), and the transaction only
        re-checks each row is still queued and writes. Extraction and matching are most of a
        page's cost; inside the transaction, writers waiting on its locks would wait for them too
        (and on PostgreSQL its backend would sit "idle in transaction")."""
        postgres = self._postgres()
        async with one_by_one(self.sessions) as reader:
            ready, figures = await self._prepare(reader, batch)
        changed = [r for r in ready if r.changed]
        if changed:  # no session held meanwhile (SQLite: not even a read transaction)
            texts = [(r.page.text, r.day) for r in changed]
            found = await asyncio.get_running_loop().run_in_executor(self._executor, extract_statements, texts, figures)
            for r, f in zip(changed, found, strict=True):
                r.found = f
        async with contextlib.AsyncExitStack() as reading:
            reader = await reading.enter_async_context(one_by_one(self.sessions))
            read = await read_ahead(reader, [r.found for r in ready if r.found is not None])
            if not postgres:  # SQLite: one writer; record_many checks the match again under its lock
                await reading.aclose()
            async with self._write_lock:  # matching (no await) never runs while this service writes
                matched = match_read(read)
                if matched is not None and postgres:
                    await catch_up(reader, matched)  # what was committed since the read, once more
                async with self.sessions.begin() as session:
                    return await self._store_ready(session, ready, matched)

    def _postgres(self) -> bool:
        bind = self.sessions.kw.get("bind")
        return isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql"

    def _item(self, article: Any, page: PageDoc) -> ArticleIn:
        """The page as the archive takes it, for `article` (an `Article` or a row of `_SEEN`)."""
        title = article.title or page.title
        topics = article_topics(title, page.text, self.config.topic_keywords(), extra=article.topics.split())
        return ArticleIn(
            text=page.text,
            title=title,
            guid=article.guid,
            url=article.url,
            outlet=article.outlet or page.outlet,
            author=page.author,
            published_at=page.published_at(),
            topics=tuple(topics),
            feed_id=article.feed_id,
            origin="page",
            summary_only=False,
            digest=content_hash(title, page.text),
        )

    async def _prepare(self, session: AsyncSession, batch: list[tuple[Job, PageDoc]]) -> tuple[list[_Ready], tuple[Figure, ...]]:
        """What the write can work out before its transaction, read through `session`: each queued
        row's page as an article, which of them will be stored with new text (marked `changed`),
        and the figures their statements are extracted with."""
        query = select(*(getattr(Article, c) for c in _SEEN)).where(
            Article.id.in_([job.id for job, _ in batch]), Article.fulltext_status == "queued"
        )
        rows = {r.id: r for r in await session.execute(query)}
        ready = [_Ready(job, page, _seen(rows[job.id]), self._item(rows[job.id], page)) for job, page in batch if job.id in rows]
        planned = await plan(session, [r.item for r in ready]) if ready else []
        for r, (_outcome, text_changed) in zip(ready, planned, strict=True):
            r.changed = text_changed
            r.day = _day(r.seen[_SEEN.index("published_at")], r.item)
        figures = await tracked_figures(session, self.config) if any(r.changed for r in ready) else ()
        return ready, figures

    async def _store_ready(self, session: AsyncSession, ready: list[_Ready], matched: Matched | None) -> list[int | None]:
        """The prepared pages in the caller's transaction: each row checked still queued, its text
        stored through the one write path, then the statements of all (their locks taken last)."""
        out: list[int | None] = [None] * len(ready)
        done: list[tuple[int, Stored, bool, list[Found] | None]] = []
        for n, r in enumerate(ready):
            article = await session.get(Article, r.job.id, populate_existing=True)
            if article is None or article.fulltext_status != "queued":
                continue  # deleted or finished by someone else meanwhile
            item, found = r.item, r.found
            if _seen(article) != r.seen:  # edited since it was read: made again here
                item, found = self._item(article, r.page), None
            stored = await store_article(session, item)
            row = stored.article
            if row.id != article.id:  # the page is another stored article's (same canonical text)
                article.fulltext_status = "failed"
                article.fulltext_note = f"same text as article {row.id}"
                continue
            if article.published_inferred and r.page.published:
                article.published_at = r.page.published_at()
                article.published_inferred = False
            article.outlet = article.outlet or r.page.outlet
            article.summary_only = False
            article.fulltext_status = "fetched"
            article.fulltext_note = None
            article.fulltext_next_at = None
            article.fulltext_attempts = r.job.attempts + 1
            day = row.published_at.date() if row.published_at else None
            # Statements extracted ahead stand for the text and date stored; otherwise extracted in `record_many`.
            done.append((n, stored, not r.job.backfill, found if stored.changed_text and day == r.day else None))
            out[n] = 0
        if done:
            counts = await after_store_many(
                session, [(s, alerts) for _n, s, alerts, _f in done], self.config, [f for *_x, f in done], matched
            )
            for (n, *_x), count in zip(done, counts, strict=True):
                out[n] = count
        return out

    async def _finish(self, job: Job, status: str, note: str | None) -> None:
        """A final outcome without new text: the feed's summary stays and is marked summary only."""
        async with self._write_lock, one_by_one(self.sessions) as session:
            await session.execute(
                update(Article)
                .where(Article.id == job.id, Article.fulltext_status == "queued")
                .values(
                    fulltext_status=status,
                    fulltext_note=(note or "")[:300] or None,
                    fulltext_next_at=None,
                    fulltext_attempts=job.attempts + 1,
                    # honest about what was read: the feed's text stays, and says so when it is a summary
                    summary_only=needs_full_text(job.summary, "auto"),
                )
            )

    async def _retry(self, job: Job, stats: RunStats, note: str, delay_s: float) -> None:
        if job.attempts + 1 >= self.config.fulltext.max_attempts:
            await self._finish(job, "failed", f"{note} (gave up after {job.attempts + 1} attempts)")
            self._count(stats, "failed", note.split(" (")[0])
            return
        async with self._write_lock, one_by_one(self.sessions) as session:
            await session.execute(
                update(Article)
                .where(Article.id == job.id, Article.fulltext_status == "queued")
                .values(
                    fulltext_next_at=utcnow() + timedelta(seconds=delay_s),
                    fulltext_attempts=job.attempts + 1,
                    fulltext_note=(f"{BACKFILL_NOTE}; {note}" if job.backfill else note)[:300],
                )
            )
        self._count(stats, "retried", note.split(" (")[0])

    # ---- lifecycle -----------------------------------------------------------------------
    def schedule(self, scheduler: Any) -> None:
        """Add the background job to an APScheduler (3.x AsyncIOScheduler): one at a time, never piled up."""
        scheduler.add_job(
            self.run_pending,
            "interval",
            seconds=self.config.fulltext.interval_s,
            id="fulltext",
            name="full-text pages",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=utcnow() + timedelta(seconds=5),
        )

    async def aclose(self) -> None:
        if self._own_fetcher:
            await self.fetcher.aclose()
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)


async def run_once(sessions: async_sessionmaker[AsyncSession], config: AppConfig, settings: Settings) -> RunStats:
    """One drain of the queue with a service of its own (CLI, tests, cron)."""
    service = FullTextService(sessions, config, settings)
    try:
        return await service.run_pending()
    finally:
        await service.aclose()


__all__ = ["FullTextService", "Job", "RunStats", "for_full_text", "queue_counts", "run_once"]
