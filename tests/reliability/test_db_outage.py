"""PostgreSQL stopped mid-run and started again: the bot rides it out and recovers by itself.

During the outage `/healthz` answers 503 (an orchestrator sees red) but the process keeps running;
once the server is back, health turns green and ingest cycles complete again without a restart.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from bot.store.db import make_engine
from bot.store.models import Article, IngestCycle
from tests.feedfarm import FarmFeed, FeedFarm, farm_items
from tests.reliability.helpers import Bot, RestartablePg, bot_env, create_database, free_port, pg_available

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not pg_available(), reason="no PostgreSQL binaries")]


async def scalar(url: str, stmt: object) -> object:
    engine = make_engine(url)
    try:
        async with engine.connect() as c:
            return (await c.execute(stmt)).scalar()  # type: ignore[call-overload]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("outage_s", [pytest.param(5, id="5s"), pytest.param(30, id="30s", marks=pytest.mark.long)])
async def test_postgres_outage_is_ridden_out(tmp_path: Path, outage_s: int) -> None:
    pg = RestartablePg()
    admin = await asyncio.to_thread(pg.start)
    try:
        db_url = await create_database(admin, "outage")
        async with FeedFarm() as farm:
            feeds = [farm.put(f"o{i}", FarmFeed(title=f"Outlet {i}", items=farm_items(f"o{i}", 5))) for i in range(5)]
            config = tmp_path / "newsbot.yaml"
            config.write_text(yaml.safe_dump({"feeds": [{"url": u, "full_text": "never"} for u in feeds]}))
            bot = await Bot(bot_env(db_url, config, free_port(), NEWSBOT_INGEST_EVERY_S="1"), tmp_path / "bot.log").start()
            try:
                await bot.wait_healthy(90)
                deadline = time.monotonic() + 60
                while await scalar(db_url, select(func.count()).select_from(Article)) != 25:
                    assert time.monotonic() < deadline, bot.log_tail()
                    await asyncio.sleep(0.2)

                await asyncio.to_thread(pg.stop_server)
                down_at = datetime.now(UTC)
                red = False
                t_end = time.monotonic() + outage_s
                while time.monotonic() < t_end:
                    status, body = await bot.health()
                    bot.check_alive()
                    if status == 503:
                        red = True
                    assert status != 200, f"healthy while the database is down: {body}"
                    await asyncio.sleep(0.5)
                assert red, "/healthz never answered 503 during the outage"

                await asyncio.to_thread(pg.start_server)
                body = await bot.wait_healthy(60)
                assert body["database"] == "ok"
                # Ingest cycles finish again by themselves, after the outage.
                deadline = time.monotonic() + 60
                while True:
                    last = await scalar(db_url, select(func.max(IngestCycle.finished_at)))
                    if isinstance(last, datetime) and (last if last.tzinfo else last.replace(tzinfo=UTC)) > down_at:
                        break
                    assert time.monotonic() < deadline, bot.log_tail()
                    await asyncio.sleep(0.3)
                bot.check_alive()
                metrics = await bot.metrics()
                assert "newsbot_ingest_cycle_seconds_count" in metrics
            finally:
                rc = await bot.stop(60)
            assert rc == 0, bot.log_tail()
            # Nothing was stored twice across the outage.
            assert await scalar(db_url, select(func.count()).select_from(Article)) == 25
    finally:
        await asyncio.to_thread(pg.destroy)


async def test_pooled_connections_cut_by_a_restart_are_replaced_at_checkout() -> None:
    """Every connection the pool held when PostgreSQL restarted is closed; the next checkouts get
    fresh ones, and their first statement succeeds (the pool checks the driver's state at
    checkout: no ping, no transaction)."""
    from sqlalchemy import text

    pg = RestartablePg()
    admin = await asyncio.to_thread(pg.start)
    try:
        db_url = await create_database(admin, "pool_restart")
        engine = make_engine(db_url)
        try:
            async def one(i: int) -> int:
                async with engine.connect() as c:
                    return int((await c.execute(text("SELECT CAST(:i AS integer)"), {"i": i})).scalar_one())

            async def pids() -> set[int]:
                held = [await engine.connect() for _ in range(3)]
                try:
                    return {int((await c.execute(text("SELECT pg_backend_pid()"))).scalar_one()) for c in held}
                finally:
                    for c in held:
                        await c.close()

            before = await pids()
            assert engine.pool.checkedin() == 3  # type: ignore[attr-defined]
            await asyncio.to_thread(pg.stop_server)
            await asyncio.to_thread(pg.start_server)
            assert await asyncio.gather(*(one(i) for i in range(3))) == [0, 1, 2]
            assert not (await pids()) & before
        finally:
            await engine.dispose()
    finally:
        await asyncio.to_thread(pg.destroy)


async def test_ingesters_carry_on_across_a_postgres_restart(tmp_path: Path) -> None:
    """Two ingesters, PostgreSQL restarted under them while the feeds gain items: they carry on
    with the connections they had replaced, and every item is stored once, in exactly one story."""
    from bot.store.models import Story

    pg = RestartablePg()
    admin = await asyncio.to_thread(pg.start)
    try:
        db_url = await create_database(admin, "restart")
        async with FeedFarm() as farm:
            names = [f"r{i}" for i in range(4)]
            start = datetime.now(UTC)  # items a minute apart: the feeds are checked again within a minute
            feeds = [farm.put(n, FarmFeed(title=f"Outlet {n}", items=farm_items(n, 5, start=start, step_min=1))) for n in names]
            config = tmp_path / "newsbot.yaml"
            config.write_text(yaml.safe_dump({
                "feeds": [{"url": u, "full_text": "never"} for u in feeds],
                "ingest": {"min_interval_s": 10, "max_interval_s": 60, "timeout_s": 2},
            }))
            bots = []
            for i in range(2):
                env = bot_env(db_url, config, free_port(), NEWSBOT_INGEST_EVERY_S="1")
                bots.append(await Bot(env, tmp_path / f"ingester{i}.log", args=("run", "--role", "ingester")).start())
            try:
                for b in bots:
                    await b.wait_healthy(90)

                async def stored(n: int, within: float) -> None:
                    deadline = time.monotonic() + within
                    while await scalar(db_url, select(func.count()).select_from(Article)) != n:
                        assert time.monotonic() < deadline, bots[0].log_tail() + bots[1].log_tail()
                        for b in bots:
                            b.check_alive()
                        await asyncio.sleep(0.3)

                await stored(20, 60)
                await asyncio.to_thread(pg.stop_server)
                for n in names:  # three new items each, found at the feeds' next checks
                    farm.put(n, FarmFeed(title=f"Outlet {n}", items=farm_items(n, 8, start=start, step_min=1)))
                await asyncio.to_thread(pg.start_server)
                for b in bots:
                    await b.wait_healthy(60)
                # A write cut by the restart leaves its feeds leased until the lease runs out (2 min here).
                await stored(32, 200)
                await asyncio.sleep(3)  # a write stored twice would show by now
            finally:
                rcs = [await b.stop(60) for b in bots]
            assert rcs == [0, 0], bots[0].log_tail() + bots[1].log_tail()
            assert await scalar(db_url, select(func.count()).select_from(Article)) == 32
            assert await scalar(db_url, select(func.count(func.distinct(Article.url)))) == 32
            assert await scalar(db_url, select(func.count()).select_from(Article).where(Article.story_id.is_(None))) == 0
            assert await scalar(db_url, select(func.sum(Story.article_count))) == 32
    finally:
        await asyncio.to_thread(pg.destroy)
