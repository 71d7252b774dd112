"""The newsroom the crash tests share: six loopback outlets, two Slack channels tracking Rutte.

Each crash test (kill -9 during ingest and delivery, during a history outage, while streaming,
before `run` ever started, and the long soak) starts from this scene, so that what differs
between them is only the fault they inject.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from bot.store.db import make_engine
from bot.store.models import Delivery, Feed, StatementRow
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.feedfarm import FarmFeed, FarmItem, FeedFarm, prose
from tests.reliability.helpers import Bot, bot_env, free_port

CHANNELS = ("C0ALERTS1", "C0ALERTS2")  # Slack paces ~1 post/s per channel: kept small for speed
N_FEEDS = 6
SIGNING_SECRET = "0123456789abcdef0123456789abcdef"


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


def write_config(path: Path, farm: FeedFarm, feeds: int = N_FEEDS) -> None:
    cfg = {
        "feeds": [{"url": farm.url(f"/feeds/f{i}"), "full_text": "never"} for i in range(feeds)],
        "ingest": {"min_interval_s": 10, "max_interval_s": 60, "timeout_s": 5},
        "channels": [{"platform": "slack", "id": c, "alerts": {"figures": ["Mark Rutte"]}} for c in CHANNELS],
    }
    path.write_text(yaml.safe_dump(cfg))


def slack_env(db_url: str, config: Path, slack: FakeSlack, **extra: str) -> dict[str, str]:
    """The environment of a bot that posts to the fake Slack."""
    return bot_env(
        db_url, config, free_port(),
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, NEWSBOT_SLACK_API_URL=slack.api_url,
        **extra,
    )


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


async def backfill(env: dict[str, str], log: Path, db_url: str, feeds: int = N_FEEDS) -> Bot:
    """Run the bot until every feed's first poll (a backfill: stored, never alerted) has succeeded.

    Returns the running bot; the caller kills or keeps it."""
    bot = await Bot(env, log).start()
    await bot.wait_healthy()
    deadline = time.monotonic() + 60
    while (await db_counts(db_url))["backfilled"] < feeds:
        assert time.monotonic() < deadline, bot.log_tail()
        await asyncio.sleep(0.2)
    return bot


def posted(slack: FakeSlack) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for channel in CHANNELS:
        keys = []
        for m in slack.messages.get(channel, []):
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            keys.append((str(payload.get("key")), int(payload.get("part", 0))))
        out[channel] = keys
    return out


@dataclass
class Newsroom:
    """The scene once set up: outlets on the farm, the fake Slack, the bot's environment and log."""

    farm: FeedFarm
    slack: FakeSlack
    db_url: str
    config: Path
    env: dict[str, str]
    log: Path

    def publish(self, feed: str, item: FarmItem) -> None:
        """A new article at the top of the outlet's feed, seen at its next poll."""
        self.farm.feeds[feed].items.insert(0, item)
        self.farm.changed(feed)

    def quote(self, feed: str, n: int) -> str:
        """Publish a new Rutte quote; returns its marker."""
        item, marker = quote_item(feed, n)
        self.publish(feed, item)
        return marker

    async def kill_after(
        self, seconds: float, *, or_when: Callable[[], bool] = lambda: False, healthy_first: bool = False,
    ) -> None:
        """Start the bot and SIGKILL its process group after `seconds`, or as soon as `or_when()` holds."""
        bot = await Bot(self.env, self.log).start()
        if healthy_first:
            await bot.wait_healthy()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not or_when():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        bot.kill9()
        await bot.wait()

    async def finish(
        self, markers: Sequence[str], channels: Sequence[str] = CHANNELS, *, within: float = 150,
        settle: float = 0.0, must: bool = True,
    ) -> bool:
        """The last run, left alone until the outbox is empty and every marker is in every channel.

        Stops the bot cleanly after `settle` more seconds; returns whether all arrived in time
        (raises with what is missing when `must`)."""
        bot = await Bot(self.env, self.log).start()
        await bot.wait_healthy()
        deadline = time.monotonic() + within
        while True:
            counts = await db_counts(self.db_url)
            texts = {c: json.dumps(self.slack.messages.get(c, [])) for c in channels}
            missing = [m for m in markers if any(m not in texts[c] for c in channels)]
            open_rows = {k: v for k, v in counts["by_status"].items() if k != "sent"}
            done = not missing and not open_rows
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        if not done and must:
            raise AssertionError(f"not delivered: {open_rows}, missing {missing[:5]}\n{bot.log_tail()}")
        await asyncio.sleep(settle)
        assert await bot.stop() == 0, bot.log_tail()
        return done


@asynccontextmanager
async def newsroom(
    tmp_path: Path, *, feeds: int = N_FEEDS, items: Callable[[str], list[FarmItem]] = initial_items,
    post_delay: float = 0.0, backfilled: bool = True, **env: str,
) -> AsyncIterator[Newsroom]:
    """The outlets and channels set up, every feed backfilled by a first run (killed) unless told not."""
    db_url = f"sqlite:///{tmp_path}/newsbot.db"
    async with FeedFarm() as farm:
        slack = await FakeSlack(post_delay=post_delay).start()
        try:
            for i in range(feeds):
                farm.put(f"f{i}", FarmFeed(title=f"Outlet {i}", items=items(f"f{i}")))
            config = tmp_path / "newsbot.yaml"
            write_config(config, farm, feeds)
            room = Newsroom(farm, slack, db_url, config, slack_env(db_url, config, slack, **env), tmp_path / "bot.log")
            if backfilled:
                bot = await backfill(room.env, room.log, db_url, feeds)  # the first poll of a feed alerts nobody
                bot.kill9()
                await bot.wait()
            yield room
        finally:
            await slack.stop()
