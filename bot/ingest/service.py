"""The ingester as the app runs it: `IngestService.run_cycle()` on an APScheduler interval job.

One shared `SafeFetcher`, a parse pool (worker processes on a multi-core machine: feedparser is
pure Python, and parsing beside storing is what keeps a cycle close to parsing alone), and a
pipeline: every cycle leases due feeds from the database, fetches and parses them `concurrency`
at a time, and hands the results through a bounded queue to the writer (one on SQLite, which
has one writer anyway; two on PostgreSQL), which stores whatever has piled up, many feeds per
transaction, while fetching and parsing go on. The queue's bound is the back-pressure: when the
writer falls behind, fetching waits instead of piling parsed feeds up in memory. Each cycle
records an IngestCycle row.

Memory: the parse workers (`bot/ingest/parsepool.py`, lean processes that import the
parser only) start with a cycle's first parse and stop when the cycle is over, unless the next
cycle is due within `KEEP_WARM_S`: idle workers would hold ~30-45 MB each for nothing between
cycles, and starting one costs ~0.2 s of CPU, nothing next to a minute's interval. Between
cycles the ingester is its main process alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive.figures import tracked_figures
from bot.config import AppConfig, Settings
from bot.ingest.feeds import sync_config_feeds
from bot.ingest.parse import ParsedFeed, parse_feed
from bot.ingest.parsepool import ParsePool, WorkerUsage
from bot.ingest.pipeline import FeedJob, FeedOutcome, Polled, fetch_and_parse, write_batch
from bot.ingest.schedule import lease_due_feeds, lease_seconds
from bot.net.fetch import Resolver, SafeFetcher
from bot.runtime.metrics import ARTICLES_STORED, CYCLE_SECONDS, FEEDS_FAILED, FEEDS_POLLED, STATEMENTS_STORED
from bot.store.models import Feed, IngestCycle, utcnow
from bot.store.search import compact_article_days

log = logging.getLogger("bot.ingest")
JOB_ID = "ingest-cycle"
JOBSTORE = "ingest-memory"
BATCH_FEEDS = 64  # at most this many feeds' results per write transaction ...
BATCH_ENTRIES = 240  # ... and about this many entries, so SQLite's write lock is never held long
KEEP_WARM_S = 30  # parse workers outlive a cycle only when the next one starts sooner than this


@dataclass
class CycleStats:
    fetched: int = 0
    not_modified: int = 0
    new: int = 0
    updated: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    duration_s: float = 0.0

    def add(self, o: FeedOutcome) -> None:
        if o.status == "fetched":
            self.fetched += 1
        elif o.status == "not_modified":
            self.not_modified += 1
        else:
            self.failed += 1
            self.failures.append((o.url, o.error or "unknown error"))
        self.new += o.new
        self.updated += o.updated

    def summary(self) -> str:
        """One line a person reads: "6 feeds fetched, 3 not modified, 12 new, 1 updated, 1 failed in 2.4 s"."""
        parts = [f"{self.fetched} feeds fetched", f"{self.not_modified} not modified", f"{self.new} new",
                 f"{self.updated} updated"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        return ", ".join(parts) + f" in {self.duration_s:.1f} s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "not_modified": self.not_modified,
            "new": self.new,
            "updated": self.updated,
            "failed": self.failed,
            "failures": [{"url": u, "reason": r} for u, r in self.failures],
            "duration_s": round(self.duration_s, 3),
        }


def _count(o: FeedOutcome) -> None:
    """The /metrics view of one poll."""
    FEEDS_POLLED.inc()
    if o.status == "failed":
        FEEDS_FAILED.inc()
    ARTICLES_STORED.labels("new").inc(o.new)
    ARTICLES_STORED.labels("updated").inc(o.updated)
    STATEMENTS_STORED.inc(o.statements)


def make_fetcher(config: AppConfig, settings: Settings, *, resolver: Resolver | None = None) -> SafeFetcher:
    lim = config.ingest
    return SafeFetcher(
        user_agent=lim.user_agent,
        timeout_s=lim.timeout_s,
        max_body_bytes=lim.max_body_bytes,
        per_host_concurrency=lim.per_host_concurrency,
        allow_private=settings.allow_private_feeds,
        max_connections=max(lim.concurrency * 2, 20),
        resolver=resolver,
    )


def usable_cpus() -> int:
    """CPUs this process may really use: its affinity mask and a cgroup v2 quota (a container
    limited to `cpus: 1` still sees every host CPU in os.cpu_count())."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]  # noqa: SIM115
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def default_parse_processes() -> int:
    """One parse worker per core beside the one the event loop needs (fetching, storing and the
    database driver keep it busy), at most 4; none on one core, where parsing in a thread beside
    the loop is as fast and a worker would only add its memory."""
    cpus = usable_cpus()
    return min(cpus - 1, 4) if cpus > 1 else 0


class IngestService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: AppConfig,
        settings: Settings,
        worker_id: str,
        *,
        fetcher: SafeFetcher | None = None,
        parse_processes: int | None = None,
        writers: int = 1,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.settings = settings
        self.worker_id = worker_id[:100]
        self.fetcher = fetcher or make_fetcher(config, settings)
        self._own_fetcher = fetcher is None
        self._processes = default_parse_processes() if parse_processes is None else parse_processes
        self._pool: ParsePool | None = None  # worker processes, only while a cycle needs them
        self._thread: ThreadPoolExecutor | None = None  # parsing beside the loop on one core
        self._usage = WorkerUsage()  # of the pools already closed
        self._every_s: float | None = None  # the interval once scheduled
        self._synced = False
        bind = sessions.kw.get("bind")
        self._postgres = bind is not None and bind.dialect.name == "postgresql"
        # One writer by default: its batches take all that was parsed meanwhile, so fewer, larger
        # write transactions, each a fixed handful of round trips. A second writer (PostgreSQL;
        # `writers=2`) made more, smaller ones: more backends idle in a transaction, for no
        # throughput measured (benchmarks/RESULTS.md, "idle in transaction").
        self._writers = writers if self._postgres else 1
        self._topics = config.topic_keywords()
        self._figures = tuple(config.figure_list())  # parsing extracts statements off the event loop
        self._stopping = False  # graceful shutdown
        self._cycle_task: asyncio.Task[Any] | None = None

    # -- parsing off the event loop ---------------------------------------------------------
    async def parse(self, body: bytes, url: str, content_type: str) -> ParsedFeed:
        if self._processes > 0:
            if self._pool is None:
                self._pool = ParsePool(self._processes, self._topics, self._figures)
            return await self._pool.parse(body, url, content_type)
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="feedparse")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, parse_feed, body, url, content_type, self._topics, self._figures)

    @property
    def parse_pids(self) -> list[int]:
        """Parse worker processes running now."""
        return self._pool.pids if self._pool is not None else []

    @property
    def parse_usage(self) -> WorkerUsage:
        """Parse workers started so far, their CPU seconds and the largest peak RSS of one."""
        live = self._pool.usage if self._pool is not None else WorkerUsage()
        return WorkerUsage(
            started=self._usage.started + live.started,
            cpu_s=self._usage.cpu_s + live.cpu_s,
            peak_rss_mb=max(self._usage.peak_rss_mb, live.peak_rss_mb),
        )

    async def release_parse_workers(self) -> None:
        """Stop the parse workers (the next parse starts them again)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
            self._usage = WorkerUsage(
                started=self._usage.started + pool.usage.started,
                cpu_s=self._usage.cpu_s + pool.usage.cpu_s,
                peak_rss_mb=max(self._usage.peak_rss_mb, pool.usage.peak_rss_mb),
            )

    async def _refresh_figures(self) -> None:
        """Take up figures tracked or untracked from chat since the last cycle.

        The parse workers hold the figures they were started with, so they are stopped (the next
        parse starts fresh ones) only when the set changed, which is rare.
        """
        async with self.sessions() as session:
            figures = await tracked_figures(session, self.config)
        if figures != self._figures:
            self._figures = figures
            await self.release_parse_workers()

    # -- one cycle --------------------------------------------------------------------------
    async def run_cycle(self, *, ignore_schedule: bool = False) -> CycleStats:
        """Poll every due feed once (all feeds with ignore_schedule); never raises for a feed's failure."""
        t0 = time.monotonic()
        stats = CycleStats()
        if self._stopping:
            return stats
        self._cycle_task = asyncio.current_task()
        started = utcnow()
        if not self._synced:
            for attempt in range(3):
                try:
                    async with self.sessions.begin() as session:
                        await sync_config_feeds(session, self.config)
                        await self._reclaim(session)
                    break
                except IntegrityError:  # replicas starting together add the same config feeds
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
            self._synced = True
        await self._refresh_figures()
        async with self.sessions.begin() as session:
            cycle = IngestCycle(worker=self.worker_id, started_at=started, stats={})
            session.add(cycle)
        conc = self.config.ingest.concurrency
        lease_s = lease_seconds(self.config.ingest.timeout_s)
        queue: asyncio.Queue[Polled | None] = asyncio.Queue(maxsize=max(conc * 2, BATCH_FEEDS))
        writers = {asyncio.create_task(self._writer(queue, stats)) for _ in range(self._writers)}
        pending: list[FeedJob] = []
        running: set[asyncio.Task[None]] = set()
        exhausted = False
        # The next lease, asked for while the last one's feeds are still being started: on SQLite
        # a lease waits for the writer's transaction to commit, and fetching must not stall
        # behind it.
        ahead: asyncio.Task[list[FeedJob]] | None = None
        try:
            while True:
                while len(running) < conc and (pending or not exhausted) and not self._stopping:
                    if not pending:
                        # A few rounds' worth per lease: fewer write transactions competing
                        # with the writer for SQLite's lock.
                        pending = await (ahead or self._lease(conc * 4, lease_s, started, ignore_schedule))
                        ahead = None
                        if not pending:
                            exhausted = True
                            break
                    job = pending.pop(0)
                    running.add(asyncio.create_task(self._fetch_into(job, queue)))
                    if ahead is None and len(pending) < conc and not self._stopping:
                        ahead = asyncio.create_task(self._lease(conc * 4, lease_s, started, ignore_schedule))
                if not running:
                    break
                done, _ = await asyncio.wait(running | writers, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task in writers:  # a writer only ends early by failing: the database is down
                        task.result()
                        raise RuntimeError("ingest writer stopped early")
                    running.discard(task)
                    task.result()
            for _ in writers:
                await queue.put(None)
            await asyncio.gather(*writers)
        finally:
            for task in running | writers:
                task.cancel()
            if ahead is not None:  # stopping: feeds it leased are handed back by `stop` (release_leases)
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
            if self._every_s is None or self._every_s >= KEEP_WARM_S:
                await self.release_parse_workers()
        stats.duration_s = time.monotonic() - t0
        CYCLE_SECONDS.observe(stats.duration_s)
        async with self.sessions.begin() as session:
            row = await session.get(IngestCycle, cycle.id)
            if row is not None:
                row.finished_at = utcnow()
                row.stats = stats.as_dict()
        if stats.new or stats.updated:  # inserts and moved dates appended a row a day (PostgreSQL): fold them
            try:
                async with self.sessions.begin() as session:
                    await compact_article_days(session)
            except Exception as exc:  # only search's date bounds read it, and unfolded rows still answer right
                log.warning("ingest: folding the per-day id summary failed, next cycle retries: %s", exc)
        log.info("ingest cycle: %s", stats.summary())
        return stats

    async def _lease(self, n: int, lease_s: int, started: Any, ignore_schedule: bool) -> list[FeedJob]:
        async with self.sessions.begin() as session:
            feeds = await lease_due_feeds(
                session,
                worker_id=self.worker_id,
                now=utcnow(),
                limit=n,
                lease_s=lease_s,
                cycle_started=started,
                ignore_schedule=ignore_schedule,
                postgres=self._postgres,
            )
            return [FeedJob.of(f) for f in feeds]

    async def _fetch_into(self, job: FeedJob, queue: asyncio.Queue[Polled | None]) -> None:
        polled = await fetch_and_parse(job, self.fetcher, self.parse)
        await queue.put(polled)  # waits while the writer is behind: the back-pressure

    async def _writer(self, queue: asyncio.Queue[Polled | None], stats: CycleStats) -> None:
        """Write whatever polls have piled up, many feeds per transaction, until told to stop."""
        while True:
            first = await queue.get()
            if first is None:
                return
            batch, size, last = [first], first.size, False
            while len(batch) < BATCH_FEEDS and size < BATCH_ENTRIES:
                try:
                    nxt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    last = True
                    break
                batch.append(nxt)
                size += nxt.size
            for outcome in await write_batch(self.sessions, batch, self.config):
                stats.add(outcome)
                _count(outcome)
            if last:
                return

    # -- wiring -----------------------------------------------------------------------------
    def schedule(self, scheduler: AsyncIOScheduler, every_s: int = 60) -> None:
        """Add the interval job (stable id, one instance, missed runs coalesced, in-memory store)."""
        self._every_s = every_s
        with contextlib.suppress(ValueError):  # already added by an earlier call
            scheduler.add_jobstore(MemoryJobStore(), alias=JOBSTORE)
        scheduler.add_job(
            self.run_cycle,
            "interval",
            seconds=every_s,
            id=JOB_ID,
            name="ingest: poll due feeds",
            jobstore=JOBSTORE,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=utcnow(),
        )

    async def _reclaim(self, session: AsyncSession) -> None:
        """Leases a crashed run left behind (ours after a container restart; on SQLite, where one
        process ingests, all of them) are handed back at start instead of waiting to expire."""
        cond: Any = Feed.lease_owner == self.worker_id if self._postgres else Feed.lease_owner.is_not(None)
        await session.execute(
            update(Feed).where(cond).values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False)
        )

    async def stop(self, deadline_s: float = 20.0) -> None:
        """Graceful shutdown: lease no more feeds, let the polls in flight finish
        within `deadline_s`, cancel what is left (a cancelled store rolls back), and hand back
        every lease this worker still holds so another process can poll those feeds at once."""
        self._stopping = True
        task = self._cycle_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            _done, pending = await asyncio.wait({task}, timeout=deadline_s)
            if pending:
                task.cancel()
                await asyncio.wait({task}, timeout=5)
        await self.release_leases()

    async def release_leases(self) -> int:
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(Feed)
                .where(Feed.lease_owner == self.worker_id)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
        n = int(getattr(result, "rowcount", 0) or 0)
        if n:
            log.info("ingest: handed back %d feed leases", n)
        return n

    async def aclose(self) -> None:
        if self._own_fetcher:
            await self.fetcher.aclose()
        await self.release_parse_workers()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.shutdown, True, cancel_futures=True)
