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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot.store.db import make_engine
from bot.store.models import Delivery, Feed, StatementRow
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.feedfarm import FarmFeed, FarmItem, FeedFarm, prose
from tests.reliability.helpers import Bot, bot_env, free_port

CHANNELS = ("C0ALERTS1", "C0ALERTS2")  # Slack paces ~1 post/s per channel: kept small for speed
N_FEEDS = 6


def quote_item(feed: str, n: int) -> tuple[FarmItem, str]:
    """A new article in which Mark Rutte says something no other article says (a unique marker)."""
    marker = f"kestrel{feed}x{n}"
    # Quotes must differ by more than a word: near-identical quotes are one statement (cross-outlet dedup).
    words = prose(f"q{marker}", 14).rstrip(".").lower()
    body = (
        f"<p>\"We will {words} with {marker} before the winter,\" NATO Secretary "
        f"General Mark Rutte said on Tuesday in Brussels.</p><p>{prose(marker, 60)}</p>"
    )
    item = FarmItem(
        guid=f"urn:crash:{marker}", title=f"Rutte pledges {marker}", body=body,
        link=f"https://news.example/{feed}/{marker}", published=datetime.now(UTC),
    )
    return item, marker


def initial_items(feed: str) -> list[FarmItem]:
    now = datetime.now(UTC) - timedelta(minutes=5)
    return [
        FarmItem(
            guid=f"urn:crash:{feed}:{i}", title=f"Background {feed} {i}", body=f"<p>{prose(f'{feed}{i}', 60)}</p>",
            link=f"https://news.example/{feed}/bg{i}", published=now - timedelta(seconds=20 * i),
        )
        for i in range(4)
    ]


def write_config(path: Path, farm: FeedFarm) -> None:
    cfg = {
        "feeds": [{"url": farm.url(f"/feeds/f{i}"), "full_text": "never"} for i in range(N_FEEDS)],
        "ingest": {"min_interval_s": 10, "max_interval_s": 60, "timeout_s": 5},
        "channels": [{"platform": "slack", "id": c, "alerts": {"figures": ["Mark Rutte"]}} for c in CHANNELS],
    }
    path.write_text(yaml.safe_dump(cfg))


async def db_counts(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as c:
            by_status = dict((await c.execute(select(Delivery.status, func.count()).group_by(Delivery.status))).all())
            keys = list((await c.execute(select(Delivery.idempotency_key, Delivery.status))).all())
            statements = (await c.execute(select(func.count()).select_from(StatementRow))).scalar_one()
            backfilled = (await c.execute(select(func.count()).where(Feed.last_success_at.is_not(None)))).scalar_one()
        return {"by_status": by_status, "keys": keys, "statements": statements, "backfilled": backfilled}
    finally:
        await engine.dispose()


def posted(slack: FakeSlack) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for channel in CHANNELS:
        keys = []
        for m in slack.messages.get(channel, []):
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            keys.append((str(payload.get("key")), int(payload.get("part", 0))))
        out[channel] = keys
    return out


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
            env = bot_env(
                db_url, config, free_port(),
                SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef",
                NEWSBOT_SLACK_API_URL=slack.api_url,
            )
            log = tmp_path / "bot.log"

            # Round 0: the first poll of every feed is a backfill (stored, no alerts).
            bot = await Bot(env, log).start()
            await bot.wait_healthy()
            deadline = time.monotonic() + 60
            while (await db_counts(db_url))["backfilled"] < N_FEEDS:
                assert time.monotonic() < deadline, bot.log_tail()
                await asyncio.sleep(0.2)
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
