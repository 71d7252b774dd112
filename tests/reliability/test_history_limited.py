"""Never posted blind: SIGKILLs mid-post while Slack's history answers 429 for a while.

After a crash the delivery worker must ask `conversations.history` whether each interrupted post
went out. While history is rate-limited it cannot know, so it waits (bounded backoff) instead of
posting again; once history answers, one call per channel covers every uncertain alert of that
channel, and the alerts that were leased but never handed to Slack go out meanwhile. Slack's
answers to `chat.postMessage` are held back, so a kill often lands after the
message is in the channel but before the bot has recorded it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

from tests.fakes.slack_api import FakeSlack
from tests.reliability.helpers import cli
from tests.reliability.outlets import N_FEEDS, db_counts, newsroom, posted

KILLS = 6


async def posted_not_recorded(db_url: str, slack: FakeSlack) -> int:
    sent = {k for k, status in (await db_counts(db_url))["keys"] if status == "sent"}
    return sum(1 for keys in posted(slack).values() for k, _ in keys if k not in sent)


async def test_history_rate_limited_across_six_kills_posts_each_alert_once(tmp_path: Path) -> None:
    rng = random.Random(19)
    async with newsroom(tmp_path, post_delay=0.5) as room:
        slack, db_url = room.slack, room.db_url
        markers = [room.quote(f"f{i}", 0) for i in range(N_FEEDS)]
        await asyncio.to_thread(cli, room.env, "ingest", "--once", "--all")  # the outbox fills up front
        lives: list[int] = []  # index of the first request each bot life made
        in_doubt = 0  # messages in Slack that the bot had not recorded as sent when it was killed
        for life in range(KILLS):
            # History answers 429 through the first half of the lives, then answers again.
            slack.rate_limit_for("conversations.history", 3600 if life < KILLS // 2 else 0, retry_after=1)
            lives.append(len(slack.requests))
            # Killed mid-post (stored by Slack, not yet answered) or at a random moment.
            await room.kill_after(rng.uniform(4.0, 6.0), or_when=lambda: slack.posts_in_flight > 0, healthy_first=True)
            in_doubt = max(in_doubt, await posted_not_recorded(db_url, slack))
        lives.append(len(slack.requests))
        await room.finish(markers, within=90)

    assert in_doubt >= 1, "the kills should interrupt posts"
    by_channel = posted(slack)
    for channel, keys in by_channel.items():
        dupes = [k for k, n in Counter(keys).items() if n > 1]
        assert not dupes, f"{channel}: posted twice: {dupes}"
        assert len(keys) == len(markers), channel
    history = slack.calls("conversations.history")
    assert any(r.status == 429 for r in history) and any(r.status == 200 for r in history)
    lives.append(len(slack.requests))
    segments = [slack.requests[a:b] for a, b in zip(lives, lives[1:], strict=False)]
    # While history could not answer, the alerts not in doubt (leased, never handed to Slack) still went out.
    assert any(
        any(r.method == "chat.postMessage" for r in seg)
        and any(r.method == "conversations.history" for r in seg)
        and all(r.status == 429 for r in seg if r.method == "conversations.history")
        for seg in segments
    ), [Counter((r.method, r.status) for r in seg) for seg in segments]
    for start, end in zip(lives, lives[1:], strict=False):
        answered = Counter(
            r.payload.get("channel") for r in slack.requests[start:end]
            if r.method == "conversations.history" and r.status == 200
        )
        assert all(n == 1 for n in answered.values()), f"history calls in one life: {answered}"
