"""`newsbot run`: everything wired together, until SIGTERM/SIGINT.

Start-up order (`App.start`): settings and config (already validated by the caller), adapters
chosen by tokens (Slack if SLACK_BOT_TOKEN, Discord if DISCORD_BOT_TOKEN, the console when
neither) and constructed, HTTP server, then the database: schema upgrade and config channels
applied, retried with backoff while it is locked or unreachable (/healthz answers 503 with the
reason meanwhile); then the scheduler (ingest cycle, one cron job per digest schedule), the
delivery worker, and the adapters start receiving commands.

Shutdown runs the other way: stop receiving, stop scheduling, let in-flight posts finish, close
the fetcher, the HTTP server and the database. Feeds failing (offline, publisher down) never stop
the bot: they are counted, shown in `/news status` and digests, and retried on their backoff.

Adapters are loaded by module name (`adapters.<platform>`), so `bot/` has no static dependency on
any platform; this is the one place that knows they exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, TextIO

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.app.http import make_app, start_server
from bot.archive.status import archive_stats, feed_counts
from bot.chat.channels import apply_config, get_or_create_channel
from bot.chat.delivery import DeliveryWorker, pending_count
from bot.chat.digests import digest_plans, enqueue_digest, schedule_digests
from bot.commands.core import make_handler
from bot.commands.handlers import Deps
from bot.config import AppConfig, ConfigError, Settings
from bot.runtime import heap
from bot.runtime.metrics import FEED_HEALTH, OUTBOX
from bot.store.db import make_engine, probe_sqlite, session_factory
from bot.store.db import one_line_error as one_line
from bot.store.migrate import upgrade
from bot.store.models import Delivery, IngestCycle, utcnow

log = logging.getLogger(__name__)

SHUTDOWN_DEADLINE_S = 20.0  # in-flight feed polls and posts get this long after SIGTERM


def load_adapter(platform: str, settings: Settings, **kwargs: Any) -> Any:
    """`adapters.<platform>`: its `create(settings)`, else `<Platform>Adapter.from_settings` / `(settings)`."""
    module = importlib.import_module(f"adapters.{platform}")
    create = getattr(module, "create", None)
    if create is not None:
        return create(settings, **kwargs) if kwargs else create(settings)
    cls = getattr(module, f"{platform.capitalize()}Adapter")
    if hasattr(cls, "from_settings"):
        return cls.from_settings(settings)
    return cls(settings)


def choose_platforms(settings: Settings) -> list[str]:
    platforms = []
    if settings.slack_bot_token is not None and settings.slack_bot_token.get_secret_value():
        platforms.append("slack")
    if settings.discord_bot_token is not None and settings.discord_bot_token.get_secret_value():
        platforms.append("discord")
    return platforms or ["console"]


@dataclass
class Running:
    """What `/healthz` and `/news status` look at."""

    adapters: dict[str, Any] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    worker: DeliveryWorker | None = None
    scheduler: Any = None
    ingest: bool = False

    def status(self) -> dict[str, str]:
        jobs = len(self.scheduler.get_jobs()) if self.scheduler is not None else 0
        worker = self.worker._main if self.worker is not None else None
        return {
            "adapters": ", ".join(sorted(self.started)) or "none",
            "delivery worker": "running" if worker is not None and not worker.done() else "stopped",
            "scheduled jobs": str(jobs),
            "ingest": "scheduled" if self.ingest else "off",
        }


DB_WAIT_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, OSError, TimeoutError)
DB_RETRY_MAX_S = 5.0  # a database that comes back is noticed within this long


@dataclass
class App:
    """The parts of `newsbot run` and the steps that build, start and stop them, in order."""

    settings: Settings
    config: AppConfig
    role: str
    stop: asyncio.Event
    stdin: TextIO | None = None
    stdout: TextIO | None = None
    running: Running = field(default_factory=Running)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    engine: Any = None
    sessions: Any = None
    platforms: list[str] = field(default_factory=list)
    database: str = "connecting"  # "ok", or why the database is not usable yet (for /healthz)
    runner: Any = None
    ingest: Any = None
    fulltext: Any = None
    deps: Any = None
    started_mono: float = 0.0

    @property
    def chat_on(self) -> bool:
        return self.role in ("all", "chat")

    @property
    def ingest_on(self) -> bool:
        return self.role in ("all", "ingester")

    # ------------------------------------------------------------ build

    def build(self) -> None:
        """Engine, adapters (constructed, not yet receiving), scheduler and delivery worker: no I/O."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.started_mono = asyncio.get_running_loop().time()
        self.engine = make_engine(self.settings.database_url)
        self.sessions = session_factory(self.engine)
        self.platforms = choose_platforms(self.settings) if self.chat_on else []
        for platform in self.platforms:
            if platform == "console":
                on_eof = self.stop.set if (self.stdin or sys.stdin).isatty() else None
                self.running.adapters[platform] = load_adapter(
                    platform, self.settings, stdin=self.stdin, stdout=self.stdout, on_eof=on_eof
                )
            else:
                try:
                    self.running.adapters[platform] = load_adapter(platform, self.settings)
                except ValueError as exc:
                    raise ConfigError(f"{platform}: {exc}") from None
        self.running.scheduler = AsyncIOScheduler(timezone=UTC)
        self.running.worker = DeliveryWorker(
            self.sessions, self.running.adapters, figures=self.config.figure_list(), worker_id=self.worker_id
        )
        self.deps = Deps.build(
            self.sessions, self.config, on_subscriptions_changed=self.refresh_digests,
            runtime_status=self.running.status, allow_private_feeds=self.settings.allow_private_feeds,
        )

    # ------------------------------------------------------------ start

    async def start_http(self) -> None:
        """/healthz and /metrics first, so an orchestrator sees why while the database is awaited."""
        routes: list[Any] = []
        for adapter in self.running.adapters.values():
            routes_fn: Callable[[], list[Any]] | None = getattr(adapter, "http_routes", None)
            if routes_fn is not None:
                routes.extend(routes_fn())
        app = make_app(self.health, routes, before_metrics=self.gauges)
        self.runner, port = await start_server(app, self.settings.http_host, self.settings.http_port)
        log.info("http: listening on %s:%s", self.settings.http_host, port)

    async def wait_for_database(self) -> bool:
        """Schema upgrade and config applied, retried with backoff while the database is locked or
        unreachable; False when asked to stop meanwhile."""
        delay = 0.5
        while not self.stop.is_set():
            try:
                locked = await asyncio.to_thread(probe_sqlite, self.settings.database_url)
                if locked:
                    raise OSError(locked)
                await upgrade(self.engine)
                await apply_config(self.sessions, self.config)
                if "console" in self.platforms:
                    async with self.sessions.begin() as s:
                        await get_or_create_channel(s, "console", "console", "console")
            except DB_WAIT_ERRORS as exc:
                self.database = f"waiting: {one_line(exc)}"
                log.warning("database not ready (%s); retrying in %.1f s", one_line(exc), delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)
                delay = min(DB_RETRY_MAX_S, delay * 2)
                continue
            self.database = "ok"
            return True
        return False

    def start_ingest(self) -> None:
        scheduler = self.running.scheduler
        if not self.ingest_on:
            log.info("role %s: serving the archive, not ingesting", self.role)
            return
        from bot.ingest.service import IngestService  # only roles that ingest load the feed stack

        try:
            self.ingest = IngestService(self.sessions, self.config, self.settings, self.worker_id)
            self.ingest.schedule(scheduler, every_s=self.settings.ingest_every_s)
            self.running.ingest = True
        except Exception:
            log.exception("ingest could not start; serving the archive only")
            return
        # Linked pages for summary-only entries: a background queue, never in the feed cycle.
        from bot.fulltext.queue import FullTextService

        self.fulltext = FullTextService(self.sessions, self.config, self.settings, fetcher=self.ingest.fetcher)
        self.fulltext.schedule(scheduler)

    async def start_adapters(self) -> None:
        handler = make_handler(self.deps)
        for platform, adapter in self.running.adapters.items():
            try:
                await adapter.start(handler)
            except Exception as exc:
                # A platform that is down or refuses the token must not take the archive, the
                # ingester or the other adapters with it: /healthz shows it red meanwhile.
                log.error("adapter %s did not start: %s", platform, exc)
                continue
            self.running.started.add(platform)
            log.info("adapter %s started", platform)

    async def start(self) -> bool:
        """Everything, in order; False when stopped before the database was ready."""
        self.build()
        await self.start_http()
        if not await self.wait_for_database():
            return False
        self.running.scheduler.start()
        self.start_ingest()
        if self.chat_on:
            await self.refresh_digests()
            assert self.running.worker is not None
            self.running.worker.start()
        await self.start_adapters()
        return True

    # ------------------------------------------------------------ jobs and checks

    async def digest_job(self, channel_id: int, topics: list[str]) -> None:
        try:
            if await enqueue_digest(self.sessions, self.config, channel_id, topics) is not None:
                assert self.running.worker is not None
                self.running.worker.notify()
        except Exception:
            log.exception("digest for channel %s failed", channel_id)

    async def refresh_digests(self) -> None:
        async with self.sessions() as s:
            plans = await digest_plans(s, self.config, platforms=list(self.running.adapters))
        schedule_digests(self.running.scheduler, plans, self.digest_job)

    async def health(self) -> dict[str, Any]:
        if self.database != "ok":
            return {"status": "fail", "database": self.database, "role": self.role}
        running = self.running
        async with self.sessions() as s:
            await s.execute(text("SELECT 1"))
            counts = await archive_stats(s)
            pending = await pending_count(s)
            last = (await s.execute(
                IngestCycle.__table__.select().order_by(IngestCycle.id.desc()).limit(1)
            )).first()
            mine = (await s.execute(
                select(func.max(IngestCycle.finished_at)).where(IngestCycle.worker == self.worker_id)
            )).scalar()
        problems = [p for p in running.adapters if p not in running.started]
        st = running.status()
        ok = not problems and (st["delivery worker"] == "running" or not self.chat_on)
        scheduler_alive = running.scheduler is not None and running.scheduler.running
        ok = ok and scheduler_alive
        cycle_age: float | None = None
        if mine is not None:
            finished = mine if mine.tzinfo else mine.replace(tzinfo=UTC)
            cycle_age = max(0.0, (utcnow() - finished).total_seconds())
        if self.ingest_on:
            up_s = asyncio.get_running_loop().time() - self.started_mono
            stale = (cycle_age if cycle_age is not None else up_s) > self.settings.health_stale_s
            ok = ok and running.ingest and not stale
        return {
            "status": "ok" if ok else "fail",
            "database": "ok",
            "role": self.role,
            "scheduler": "running" if scheduler_alive else "stopped",
            "last_good_cycle_age_s": round(cycle_age, 1) if cycle_age is not None else None,
            **st,
            "feeds": counts["feeds"],
            "feeds_failing": counts["feeds_failing"],
            "feeds_in_backoff": counts["feeds_in_backoff"],
            "feeds_disabled": counts["feeds_disabled"],
            "articles": counts["articles"],
            "deliveries_pending": pending,
            "last_cycle": last.started_at.isoformat() if last is not None and last.started_at else None,
        }

    async def gauges(self) -> None:
        """Database-backed gauges, read at scrape time: the outbox by status, feeds by health."""
        if self.database != "ok":
            return
        async with self.sessions() as s:
            rows = (await s.execute(
                select(Delivery.kind, Delivery.status, func.count()).group_by(Delivery.kind, Delivery.status)
            )).all()
            feeds = await feed_counts(s)
        OUTBOX.clear()
        for kind, status, n in rows:
            OUTBOX.labels(kind, status).set(n)
        FEED_HEALTH.labels("total").set(feeds.feeds)
        FEED_HEALTH.labels("failing").set(feeds.feeds_failing)
        FEED_HEALTH.labels("in_backoff").set(feeds.feeds_in_backoff)
        FEED_HEALTH.labels("disabled").set(feeds.feeds_disabled)

    # ------------------------------------------------------------ stop

    async def shutdown(self) -> None:
        """Stop receiving, stop scheduling, let in-flight work finish, close the rest."""
        running = self.running
        for platform in list(running.started):
            try:
                await asyncio.wait_for(running.adapters[platform].stop(), 10)
            except Exception:
                log.exception("adapter %s did not stop cleanly", platform)
        if self.ingest is not None:
            # Before the scheduler: its shutdown cancels running jobs outright. Finish in-flight
            # feed polls within the deadline, hand the rest of the leases back.
            try:
                await self.ingest.stop(SHUTDOWN_DEADLINE_S)
            except Exception:
                log.exception("ingest did not stop cleanly (its leases expire by themselves)")
        if running.scheduler is not None and running.scheduler.running:
            running.scheduler.shutdown(wait=False)
        if running.worker is not None:
            await running.worker.stop()
        if self.fulltext is not None:
            await self.fulltext.aclose()
        if self.ingest is not None:
            try:
                await asyncio.wait_for(self.ingest.aclose(), 15)
            except Exception:
                log.exception("ingest did not close cleanly")
        if self.runner is not None:
            await self.runner.cleanup()
        if self.engine is not None:
            await self.engine.dispose()


async def run_app(
    settings: Settings,
    config: AppConfig,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stop: asyncio.Event | None = None,
    role: str = "all",
) -> None:
    """`role`: all (default) | ingester (feeds only: no adapters, delivery or digests) | chat (no polling)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    app = App(settings, config, role, stop, stdin=stdin, stdout=stdout)
    gc_defaults: tuple[int, int, int] | None = None
    for sig in (signal.SIGTERM, signal.SIGINT):  # first: a stop while the database is awaited is clean
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if await app.start():
            gc_defaults = heap.settle()  # start-up is done: what it loaded stays (see bot/heap.py)
            await stop.wait()
        log.info("shutting down")
    finally:
        if gc_defaults is not None:
            heap.unsettle(gc_defaults)  # (several runs in one process: tests)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        await app.shutdown()
