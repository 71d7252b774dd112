"""`newsbot run`: everything wired together, until SIGTERM/SIGINT.

Start-up order: settings and config (already validated by the caller), schema upgrade, config
channels synced, adapters chosen by tokens (Slack if SLACK_BOT_TOKEN, Discord if
DISCORD_BOT_TOKEN, the console when neither), HTTP server, scheduler (ingest cycle, one cron job
per digest schedule), delivery worker, then adapters start receiving commands.

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
from bot.store.db import make_engine, session_factory
from bot.store.migrate import upgrade
from bot.store.models import Delivery, IngestCycle, utcnow

log = logging.getLogger(__name__)

INGEST_EVERY_S = int(os.environ.get("NEWSBOT_INGEST_EVERY_S", "60"))  # tests and benchmarks shorten it
# /healthz turns red when this process ingests and has not finished a cycle for this long
# (issue #8): a stuck scheduler or an unreachable database, which a restart may well fix.
HEALTH_STALE_S = float(os.environ.get("NEWSBOT_HEALTH_STALE_S", "900"))
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
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    chat_on = role in ("all", "chat")
    ingest_on = role in ("all", "ingester")
    started_mono = asyncio.get_running_loop().time()

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    engine = make_engine(settings.database_url)
    running = Running()
    runner = None
    ingest: Any = None
    fulltext: Any = None
    gc_defaults: tuple[int, int, int] | None = None
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        platforms = choose_platforms(settings) if chat_on else []
        await apply_config(sessions, config)
        if "console" in platforms:
            async with sessions.begin() as s:
                await get_or_create_channel(s, "console", "console", "console")

        # Adapters (constructed, not yet receiving).
        for platform in platforms:
            if platform == "console":
                on_eof = stop.set if (stdin or sys.stdin).isatty() else None
                running.adapters[platform] = load_adapter(platform, settings, stdin=stdin, stdout=stdout, on_eof=on_eof)
            else:
                try:
                    running.adapters[platform] = load_adapter(platform, settings)
                except ValueError as exc:
                    raise ConfigError(f"{platform}: {exc}") from None

        scheduler = AsyncIOScheduler(timezone=UTC)
        running.scheduler = scheduler
        worker = DeliveryWorker(sessions, running.adapters, figures=config.figure_list(), worker_id=worker_id)
        running.worker = worker

        async def digest_job(channel_id: int, topics: list[str]) -> None:
            try:
                if await enqueue_digest(sessions, config, channel_id, topics) is not None:
                    worker.notify()
            except Exception:
                log.exception("digest for channel %s failed", channel_id)

        async def refresh_digests() -> None:
            async with sessions() as s:
                plans = await digest_plans(s, config, platforms=list(running.adapters))
            schedule_digests(scheduler, plans, digest_job)

        deps = Deps.build(sessions, config, on_subscriptions_changed=refresh_digests, runtime_status=running.status,
                          allow_private_feeds=settings.allow_private_feeds)

        async def health() -> dict[str, Any]:
            async with sessions() as s:
                await s.execute(text("SELECT 1"))
                counts = await archive_stats(s)
                pending = await pending_count(s)
                last = (await s.execute(
                    IngestCycle.__table__.select().order_by(IngestCycle.id.desc()).limit(1)
                )).first()
                mine = (await s.execute(
                    select(func.max(IngestCycle.finished_at)).where(IngestCycle.worker == worker_id)
                )).scalar()
            problems = [p for p in running.adapters if p not in running.started]
            st = running.status()
            ok = not problems and (st["delivery worker"] == "running" or not chat_on)
            scheduler_alive = running.scheduler is not None and running.scheduler.running
            ok = ok and scheduler_alive
            cycle_age: float | None = None
            if mine is not None:
                finished = mine if mine.tzinfo else mine.replace(tzinfo=UTC)
                cycle_age = max(0.0, (utcnow() - finished).total_seconds())
            if ingest_on:
                up_s = asyncio.get_running_loop().time() - started_mono
                stale = (cycle_age if cycle_age is not None else up_s) > HEALTH_STALE_S
                ok = ok and running.ingest and not stale
            return {
                "status": "ok" if ok else "fail",
                "database": "ok",
                "role": role,
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

        async def outbox_gauges() -> None:
            async with sessions() as s:
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

        routes: list[Any] = []
        for adapter in running.adapters.values():
            routes_fn: Callable[[], list[Any]] | None = getattr(adapter, "http_routes", None)
            if routes_fn is not None:
                routes.extend(routes_fn())
        runner, port = await start_server(make_app(health, routes, before_metrics=outbox_gauges), settings.http_host, settings.http_port)
        log.info("http: listening on %s:%s", settings.http_host, port)

        scheduler.start()
        try:
            from bot.ingest.service import IngestService
            if not ingest_on:
                raise ImportError(f"role {role}")
        except ImportError as exc:  # the ingest package is optional in a partial tree
            log.warning("ingest not available (%s); serving the archive only", exc)
        else:
            try:
                ingest = IngestService(sessions, config, settings, worker_id)
                ingest.schedule(scheduler, every_s=INGEST_EVERY_S)
                running.ingest = True
            except Exception:
                log.exception("ingest could not start; serving the archive only")
            else:
                # Linked pages for summary-only entries: a background queue, never in the feed cycle.
                from bot.fulltext.queue import FullTextService

                fulltext = FullTextService(sessions, config, settings, fetcher=ingest.fetcher)
                fulltext.schedule(scheduler)
        if chat_on:
            await refresh_digests()
            worker.start()

        handler = make_handler(deps)
        for platform, adapter in running.adapters.items():
            try:
                await adapter.start(handler)
            except Exception as exc:
                # A platform that is down or refuses the token must not take the archive, the
                # ingester or the other adapters with it: /healthz shows it red meanwhile.
                log.error("adapter %s did not start: %s", platform, exc)
                continue
            running.started.add(platform)
            log.info("adapter %s started", platform)

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        gc_defaults = heap.settle()  # start-up is done: what it loaded stays (see bot/heap.py)
        await stop.wait()
        log.info("shutting down")
    finally:
        if gc_defaults is not None:
            heap.unsettle(gc_defaults)  # (several runs in one process: tests)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        for platform in list(running.started):
            try:
                await asyncio.wait_for(running.adapters[platform].stop(), 10)
            except Exception:
                log.exception("adapter %s did not stop cleanly", platform)
        if ingest is not None:
            # Before the scheduler: its shutdown cancels running jobs outright. Finish in-flight
            # feed polls within the deadline, hand the rest of the leases back.
            try:
                await ingest.stop(SHUTDOWN_DEADLINE_S)
            except Exception:
                log.exception("ingest did not stop cleanly (its leases expire by themselves)")
        if running.scheduler is not None and running.scheduler.running:
            running.scheduler.shutdown(wait=False)
        if running.worker is not None:
            await running.worker.stop()
        if fulltext is not None:
            await fulltext.aclose()
        if ingest is not None:
            try:
                await asyncio.wait_for(ingest.aclose(), 15)
            except Exception:
                log.exception("ingest did not close cleanly")
        if runner is not None:
            await runner.cleanup()
        await engine.dispose()
