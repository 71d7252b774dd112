"""The YAML is the one source of truth for channels and subscriptions, whichever command runs first.

`newsbot ingest --once` before `newsbot run` has ever started must queue the alerts of the
config's channels, and the first `run` must deliver each of them exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

from tests.fakes.slack_api import FakeSlack
from tests.feedfarm import FarmFeed, FeedFarm
from tests.reliability.helpers import Bot, cli
from tests.reliability.outlets import CHANNELS, db_counts, initial_items, posted, quote_item, slack_env, write_config


async def test_ingest_before_run_ever_started_delivers_every_alert_once(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/newsbot.db"
    async with FeedFarm() as farm:
        slack = await FakeSlack().start()
        try:
            farm.put("f0", FarmFeed(title="Outlet", items=initial_items("f0")))
            config = tmp_path / "newsbot.yaml"
            write_config(config, farm, feeds=1)
            env = slack_env(db_url, config, slack)
            await asyncio.to_thread(cli, env, "ingest", "--once")  # the first poll is a backfill
            markers = []
            for n in range(3):
                item, marker = quote_item("f0", n)
                farm.feeds["f0"].items.insert(0, item)
                markers.append(marker)
            farm.changed("f0")
            await asyncio.to_thread(cli, env, "ingest", "--once", "--all")
            queued = (await db_counts(db_url))["by_status"]
            assert queued.get("pending", 0) == len(markers) * len(CHANNELS), queued

            bot = await Bot(env, tmp_path / "bot.log").start()
            await bot.wait_healthy()
            deadline = time.monotonic() + 60
            while {k for k in (await db_counts(db_url))["by_status"]} != {"sent"}:
                assert time.monotonic() < deadline, bot.log_tail()
                await asyncio.sleep(0.2)
            assert await bot.stop() == 0, bot.log_tail()
        finally:
            await slack.stop()
    for channel, keys in posted(slack).items():
        assert len(keys) == len(markers) and set(Counter(keys).values()) == {1}, (channel, keys)
        text = json.dumps(slack.messages[channel])
        assert all(text.count(m) >= 1 for m in markers), channel
