"""SIGTERM mid-cycle: the bot stops within its deadline, exits 0 and holds no feed lease afterwards.

Feeds that hang (a publisher answering nothing for a minute) are in flight when the signal comes;
the bot gives them its shutdown deadline, cancels them, hands their leases back, and closes the
database cleanly, so a replacement process can poll those feeds at once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml
from sqlalchemy import func, select

from bot.app.run import SHUTDOWN_DEADLINE_S
from bot.store.db import make_engine
from bot.store.models import Article, Delivery, Feed
from tests.feedfarm import FarmFeed, FeedFarm, farm_items
from tests.reliability.helpers import Bot, bot_env, free_port


async def test_sigterm_mid_cycle_hands_back_leases_and_exits_cleanly(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/n.db"
    async with FeedFarm(slow_s=45) as farm:  # answers after the bot's deadline, before the fetch timeout
        good = [farm.put(f"g{i}", FarmFeed(title=f"G{i}", items=farm_items(f"g{i}", 3))) for i in range(4)]
        slow = [farm.url(f"/h/slow?n={i}") for i in range(3)]
        config = tmp_path / "newsbot.yaml"
        config.write_text(yaml.safe_dump({
            "feeds": [{"url": u, "full_text": "never"} for u in [*good, *slow]],
            "ingest": {"timeout_s": 60},
        }))
        bot = await Bot(bot_env(db_url, config, free_port()), tmp_path / "bot.log").start()
        engine = make_engine(db_url)
        try:
            await bot.wait_healthy(90)
            deadline = time.monotonic() + 60
            while True:
                async with engine.connect() as c:
                    stored = (await c.execute(select(func.count()).select_from(Article))).scalar_one()
                    held = (await c.execute(select(func.count()).where(Feed.lease_owner.is_not(None)))).scalar_one()
                if stored == 12 and held == len(slow):
                    break  # the good feeds are done; the slow ones are leased and in flight
                assert time.monotonic() < deadline, f"stored={stored} held={held}\n{bot.log_tail()}"
                await asyncio.sleep(0.2)
            t0 = time.monotonic()
            rc = await bot.stop(SHUTDOWN_DEADLINE_S + 30)
            took = time.monotonic() - t0
            assert rc == 0, bot.log_tail()
            assert took < SHUTDOWN_DEADLINE_S + 30
            # The polls in flight were given the deadline, not cut off at once.
            assert took >= SHUTDOWN_DEADLINE_S - 1, f"stopped after {took:.1f} s: in-flight polls were not given the deadline"
            async with engine.connect() as c:
                held = (await c.execute(select(func.count()).where(Feed.lease_owner.is_not(None)))).scalar_one()
                sending = (await c.execute(select(func.count()).where(Delivery.status == "sending"))).scalar_one()
            assert held == 0 and sending == 0
            events = [r.get("event") for r in bot.log_records()]
            assert "shutting down" in events
            assert any(str(e).startswith("ingest: handed back") for e in events), events[-10:]
        finally:
            await engine.dispose()
            if bot.proc is not None and bot.proc.returncode is None:
                bot.kill9()
                await bot.wait(10)
