"""Parse workers: lean processes that live for a cycle, not between cycles.

Through the real IngestService against the loopback feed farm, and the pool itself against real
worker processes: what a worker loads, that it is gone after an idle cycle and back for the next,
kept warm under a short interval, holds no tokens, and that a worker killed mid-way costs one feed,
not the cycle.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import AppConfig, Limits, Settings
from bot.ingest.feeds import FeedSpec, add_feed
from bot.ingest.parsepool import ParsePool
from bot.ingest.service import KEEP_WARM_S, IngestService
from bot.store.models import Article
from tests.feedfarm import FarmFeed, FeedFarm, farm_items, render

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the pool is the same on both


@pytest.fixture
def config(app_config: AppConfig) -> AppConfig:
    return app_config.model_copy(
        update={"feeds": [], "ingest": Limits(min_interval_s=60, max_interval_s=3600, timeout_s=5.0, concurrency=4)}
    )


@pytest.fixture
async def farm() -> AsyncIterator[FeedFarm]:
    async with FeedFarm() as f:
        yield f


async def add(sessions: async_sessionmaker[AsyncSession], *urls: str) -> None:
    async with sessions.begin() as s:
        for u in urls:
            await add_feed(s, FeedSpec(u))


async def stored(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int((await s.execute(select(func.count()).select_from(Article))).scalar() or 0)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def environ(pid: int) -> str:
    return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")


def loaded(pid: int) -> str:
    """Every file mapped into a process: its extension modules show which libraries it imported."""
    return Path(f"/proc/{pid}/maps").read_text()


@SQLITE
async def test_workers_stop_after_a_cycle_and_start_again_for_the_next(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    await add(sessions, *(farm.put(f"a{i}", FarmFeed(f"A{i}", farm_items(f"a{i}", 3))) for i in range(3)))
    svc = IngestService(sessions, config, Settings(allow_private_feeds=True), "w1", parse_processes=1)
    try:
        first = await svc.run_cycle()
        assert (first.fetched, first.new, first.failed) == (3, 9, 0), first.failures
        assert svc.parse_pids == [] and svc.parse_usage.started == 1
        assert svc.parse_usage.cpu_s > 0 and svc.parse_usage.peak_rss_mb > 0

        idle = await svc.run_cycle()  # nothing due: no worker is started for nothing
        assert (idle.fetched, idle.not_modified) == (0, 0)
        assert svc.parse_usage.started == 1

        await add(sessions, farm.put("b", FarmFeed("B", farm_items("b", 4))))
        second = await svc.run_cycle()
        assert (second.fetched, second.new) == (1, 4)
        assert svc.parse_pids == [] and svc.parse_usage.started == 2
        assert await stored(sessions) == 13
    finally:
        await svc.aclose()


@SQLITE
async def test_short_interval_keeps_the_workers_warm_and_they_import_only_the_parser(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-for-parsers")
    await add(sessions, *(farm.put(f"w{i}", FarmFeed(f"W{i}", farm_items(f"w{i}", 2))) for i in range(4)))
    svc = IngestService(sessions, config, Settings(allow_private_feeds=True), "w1", parse_processes=2)
    scheduler = AsyncIOScheduler()
    svc.schedule(scheduler, every_s=KEEP_WARM_S - 1)  # not started: run_cycle is called below
    try:
        stats = await svc.run_cycle()
        assert (stats.fetched, stats.new) == (4, 8), stats.failures
        pids = svc.parse_pids
        assert 1 <= len(pids) <= 2 and all(alive(p) for p in pids)
        maps = loaded(pids[0])
        assert "selectolax" in maps  # it cleaned HTML here (a C extension, so it shows)
        for heavy in ("pydantic_core", "asyncpg", "aiohttp", "lxml", "rapidfuzz"):  # bot.cli.main, the app, full text
            assert heavy not in maps, f"parse worker loaded {heavy}"
        assert "xoxb-not-for-parsers" not in environ(pids[0])
    finally:
        await svc.aclose()
    assert not any(alive(p) for p in pids)


async def test_a_worker_killed_mid_way_costs_one_feed_and_the_next_parse_starts_a_fresh_one() -> None:
    body, ctype = render(FarmFeed("K", farm_items("k", 3)))
    pool = ParsePool(1, {})
    try:
        ok = await pool.parse(body, "http://k.example/feed", ctype)
        assert ok.error is None and len(ok.entries) == 3
        (pid,) = pool.pids
        os.kill(pid, signal.SIGKILL)
        died = await pool.parse(body, "http://k.example/feed", ctype)
        assert died.error == "parse error: parser process died" and not died.entries
        again = await pool.parse(body, "http://k.example/feed", ctype)
        assert again.error is None and len(again.entries) == 3
        assert pool.usage.started == 2 and pool.pids != [pid]
    finally:
        await pool.aclose()
    assert pool.pids == []


def test_the_ingesters_main_process_loads_no_statement_extractor() -> None:
    """`newsbot run` stores and deduplicates statements but extracts none (its parse workers do):
    the extractor's rules, lexicon and weights stay out of its memory until something extracts."""
    import subprocess
    import sys

    code = (
        "import sys, bot.cli.main, bot.ingest.service, bot.archive.hooks\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('bot.statements'))))\n"
        "from bot.statements import extract_with\n"
        "print('bot.statements.extract' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.splitlines()
    loaded = set(out[0].split())
    assert "bot.statements.dedup" in loaded
    assert not loaded & {"bot.statements.extract", "bot.statements.rules", "bot.statements.speakers", "bot.statements.weights"}
    assert out[1] == "True"  # asked for, it loads
