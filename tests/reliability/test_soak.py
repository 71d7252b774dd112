"""Soak: minutes of SIGKILLs at random moments during ingest and delivery, every alert counted.

The real `newsbot run` (SQLite) polls loopback feeds that keep gaining quotes of a tracked figure
and posts alerts to the fake Slack, whose `chat.postMessage` answers are held back (a kill often
lands after Slack stored a message but before the bot recorded it) and whose history answers 429
for stretches. The process group is SIGKILLed again and again; at the end every alert must be in
every subscribed channel exactly once. The figures are printed as one `SOAK {...}` line.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlack
from tests.feedfarm import FarmFeed, FeedFarm
from tests.reliability.helpers import Bot
from tests.reliability.outlets import (
    CHANNELS,
    N_FEEDS,
    backfill,
    db_counts,
    initial_items,
    posted,
    quote_item,
    slack_env,
    write_config,
)

SOAK_S = float(os.environ.get("NEWSBOT_SOAK_S", "180"))


@pytest.mark.long
@pytest.mark.timeout(SOAK_S + 600)
async def test_soak_kill_9_during_ingest_and_delivery_loses_nothing_and_posts_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(1919)
    db_url = f"sqlite:///{tmp_path}/newsbot.db"
    kills = history_limited = 0
    markers: list[str] = []
    started = time.monotonic()
    async with FeedFarm() as farm:
        slack = await FakeSlack(post_delay=0.3).start()
        try:
            for i in range(N_FEEDS):
                farm.put(f"f{i}", FarmFeed(title=f"Outlet {i}", items=initial_items(f"f{i}")))
            config = tmp_path / "newsbot.yaml"
            write_config(config, farm)
            env = slack_env(db_url, config, slack, NEWSBOT_INGEST_EVERY_S="1")
            log = tmp_path / "bot.log"
            bot = await backfill(env, log, db_url)  # the first poll of every feed is a backfill (no alerts)
            bot.kill9()
            await bot.wait()
            seq = Counter[str]()
            while time.monotonic() - started < SOAK_S:
                for feed in rng.sample([f"f{i}" for i in range(N_FEEDS)], rng.randint(0, 2)):
                    seq[feed] += 1
                    item, marker = quote_item(feed, seq[feed])
                    farm.feeds[feed].items.insert(0, item)
                    farm.changed(feed)
                    markers.append(marker)
                if rng.random() < 0.2:
                    slack.rate_limit_for("conversations.history", rng.uniform(3, 15), retry_after=1)
                    history_limited += 1
                bot = await Bot(env, log).start()
                deadline = time.monotonic() + rng.uniform(0.3, 8.0)
                mid_post = rng.random() < 0.4
                while time.monotonic() < deadline and not (mid_post and slack.posts_in_flight):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                bot.kill9()
                await bot.wait()
                kills += 1

            bot = await Bot(env, log).start()  # the last run is left alone until the outbox is empty
            await bot.wait_healthy()
            deadline = time.monotonic() + 300
            while True:
                counts = await db_counts(db_url)
                texts = json.dumps(slack.messages)
                open_rows = {k: v for k, v in counts["by_status"].items() if k != "sent"}
                if not open_rows and all(texts.count(m) >= len(CHANNELS) for m in markers):
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert await bot.stop() == 0, bot.log_tail()
        finally:
            await slack.stop()

    by_channel = posted(slack)
    duplicates = sum(n - 1 for keys in by_channel.values() for n in Counter(keys).values() if n > 1)
    lost = sum(1 for m in markers for c in CHANNELS if m not in json.dumps(slack.messages[c]))
    figures = {
        "seconds": round(time.monotonic() - started), "kills": kills, "quotes": len(markers),
        "alerts": len(markers) * len(CHANNELS), "posted": sum(len(k) for k in by_channel.values()),
        "duplicates": duplicates, "lost": lost, "history_429_windows": history_limited,
        "history_calls": len(slack.calls("conversations.history")),
        "history_429": sum(r.status == 429 for r in slack.calls("conversations.history")),
    }
    print("SOAK " + json.dumps(figures))
    assert duplicates == 0 and lost == 0, figures
    assert set((await db_counts(db_url))["by_status"]) == {"sent"}
