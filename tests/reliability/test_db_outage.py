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
