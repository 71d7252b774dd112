"""kill -9 at random moments while the bot ingests and delivers: nothing lost, nothing posted twice.

The real `newsbot run` (SQLite, the default deployment) polls loopback feeds and posts alerts to a
fake Slack Web API. Between crashes new articles quoting a tracked figure appear in the feeds. The
process group is SIGKILLed at a random moment of its life (during start-up and migrations, mid-poll,
mid-post) 20 times and restarted each time; then one last run is left to finish. At the end:
every statement's alert reached every subscribed channel, and no message was posted twice.
"""

from __future__ import annotations

import asyncio
import json
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


@pytest.mark.parametrize("kills", [pytest.param(20, id="20-kills"), pytest.param(60, id="60-kills", marks=pytest.mark.long)])
async def test_kill_9_twenty_times_loses_nothing_and_posts_nothing_twice(tmp_path: Path, kills: int) -> None:
    rng = random.Random(8)
    db_url = f"sqlite:///{tmp_path}/newsbot.db"
    async with FeedFarm() as farm:
        slack = await FakeSlack().start()
        try:
            for i in range(N_FEEDS):
                farm.put(f"f{i}", FarmFeed(title=f"Outlet {i}", items=initial_items(f"f{i}")))
            config = tmp_path / "newsbot.yaml"
            write_config(config, farm)
            env = slack_env(db_url, config, slack)
            log = tmp_path / "bot.log"

            # Round 0: the first poll of every feed is a backfill (stored, no alerts).
            bot = await backfill(env, log, db_url)
            bot.kill9()
            await bot.wait()

            markers: list[str] = []
            seq = Counter[str]()
            for _round in range(kills):
                for feed in rng.sample([f"f{i}" for i in range(N_FEEDS)], 1):
                    seq[feed] += 1
                    item, marker = quote_item(feed, seq[feed])
                    farm.feeds[feed].items.insert(0, item)
                    farm.changed(feed)
                    markers.append(marker)
                bot = await Bot(env, log).start()
                await asyncio.sleep(rng.uniform(0.3, 5.0))
                bot.kill9()
                await bot.wait()

            # The last run is left alone until the outbox is empty and every quote was seen.
            bot = await Bot(env, log).start()
            await bot.wait_healthy()
            deadline = time.monotonic() + 150
            while True:
                counts = await db_counts(db_url)
                texts = json.dumps(slack.messages)
                open_rows = {k: v for k, v in counts["by_status"].items() if k != "sent"}
                seen_all = all(texts.count(m) >= len(CHANNELS) for m in markers)
                if not open_rows and seen_all and counts["keys"]:
                    break
                if time.monotonic() > deadline:
                    missing = [m for m in markers if texts.count(m) < len(CHANNELS)]
                    raise AssertionError(f"not delivered: {open_rows}, missing {missing[:5]}\n{bot.log_tail()}")
                await asyncio.sleep(0.3)
            assert await bot.stop() == 0, bot.log_tail()
        finally:
            await slack.stop()

    counts = await db_counts(db_url)
    assert set(counts["by_status"]) == {"sent"}
    assert "database is locked" not in log.read_text(errors="replace")
    by_channel = posted(slack)
    sent_keys = {k for k, _ in counts["keys"]}
    for channel, keys in by_channel.items():
        dupes = [k for k, n in Counter(keys).items() if n > 1]
        assert not dupes, f"{channel}: posted twice: {dupes[:5]}"
        assert {k for k, _ in keys} <= sent_keys
    # Every outbox row was posted exactly once across the channels.
    all_posted = Counter(k for keys in by_channel.values() for k, part in keys if part == 0)
    assert set(all_posted) == sent_keys and set(all_posted.values()) == {1}
    for marker in markers:
        for channel in CHANNELS:
            assert marker in json.dumps(slack.messages[channel]), f"{marker} never reached {channel}"
