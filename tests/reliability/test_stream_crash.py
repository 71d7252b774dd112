"""kill -9 while a feed is streamed to a channel: every new article posted once, none lost.

The real `newsbot run` polls loopback feeds; a Slack channel follows one feed (`subscribe feed:#ID`,
through the command core against the same database) and a topic with an exclude filter. New
articles appear between SIGKILLs at random moments; then one last run is left to finish. At the
end every new article of the followed feed reached the channel exactly once, the excluded ones
never, and a story carried by two feeds was posted once.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.chat.messages import Context
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.config import load_config
from bot.store.db import make_engine, session_factory
from bot.store.models import Feed
from tests.feedfarm import FarmItem, prose
from tests.reliability.outlets import newsroom

CHANNEL = "C0STREAM1"


def item(feed: str, n: int, *, excluded: bool = False) -> tuple[FarmItem, str]:
    marker = f"osprey{feed}x{n}z"  # z: x1 is not a part of x10
    word = "football" if excluded else "budget"
    body = f"<p>The {word} row over {marker} went on. {prose(marker, 70)}</p>"
    return FarmItem(guid=f"urn:stream:{marker}", title=f"Row over {marker}", body=body,
                    link=f"https://news.example/{feed}/{marker}", published=datetime.now(UTC)), marker


def background(feed: str) -> list[FarmItem]:
    now = datetime.now(UTC) - timedelta(minutes=5)
    return [FarmItem(guid=f"urn:stream:{feed}:{i}", title=f"Background {feed} {i}", body=f"<p>{prose(f'{feed}{i}', 60)}</p>",
                     link=f"https://news.example/{feed}/bg{i}", published=now - timedelta(seconds=20 * i)) for i in range(3)]


async def subscribe(db_url: str, config: Path) -> None:
    engine = make_engine(db_url)
    try:
        deps = Deps.build(session_factory(engine), load_config(config))
        async with deps.sessions() as s:
            f0 = (await s.execute(select(Feed.id).where(Feed.url.endswith("/feeds/f0")))).scalar_one()
        ctx = Context(platform="slack", channel_id=CHANNEL, user_id="U1", is_admin=False)
        r = await handle(f"subscribe feed:#{f0} exclude:football format:compact", ctx, deps)
        assert r.ok, r
    finally:
        await engine.dispose()


@pytest.mark.parametrize("kills", [pytest.param(15, id="15-kills"), pytest.param(50, id="50-kills", marks=pytest.mark.long)])
async def test_kill_9_while_streaming_posts_each_article_once(tmp_path: Path, kills: int) -> None:
    rng = random.Random(20)
    wanted: list[str] = []
    unwanted: list[str] = []
    async with newsroom(tmp_path, items=background) as room:
        await subscribe(room.db_url, room.config)
        seq = Counter[str]()
        for _round in range(kills):
            feed = rng.choice(["f0", "f0", "f1"])
            seq[feed] += 1
            excluded = feed == "f0" and rng.random() < 0.25
            new, marker = item(feed, seq[feed], excluded=excluded)
            room.publish(feed, new)
            (wanted if feed == "f0" and not excluded else unwanted).append(marker)
            await room.kill_after(rng.uniform(0.3, 5.0))
        await room.finish(wanted, (CHANNEL,), settle=3)  # settle: one more cycle, in which nothing else may arrive
    slack = room.slack

    messages = slack.messages.get(CHANNEL, [])
    keys = [str(((m.get("metadata") or {}).get("event_payload") or {}).get("key")) for m in messages]
    assert keys and all(k.startswith("stream:") for k in keys)
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert not dupes, f"posted twice: {dupes[:5]}"
    texts = [json.dumps(m) for m in messages]
    for marker in wanted:
        assert sum(marker in t for t in texts) == 1, f"{marker} posted {sum(marker in t for t in texts)} times"
    for marker in unwanted:
        assert not any(marker in t for t in texts), f"{marker} should not be streamed"
