"""The newsroom the crash tests share: six loopback outlets, two Slack channels tracking Rutte.

Each crash test (kill -9 during ingest and delivery, during a history outage, while streaming,
before `run` ever started, and the long soak) starts from this scene, so that what differs
between them is only the fault they inject.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from bot.store.db import make_engine
from bot.store.models import Delivery, Feed, StatementRow
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.feedfarm import FarmItem, FeedFarm, prose
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
