"""Soak: minutes of SIGKILLs at random moments during ingest and delivery, every alert counted.

The real `newsbot run` (SQLite) polls loopback feeds that keep gaining quotes of a tracked figure
and posts alerts to the fake Slack, whose `chat.postMessage` answers are held back (a kill often
lands after Slack stored a message but before the bot recorded it) and whose history answers 429
for stretches. The process group is SIGKILLed again and again; at the end every alert must be in
every subscribed channel exactly once. The figures are printed as one `SOAK {...}` line.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.outlets import CHANNELS, N_FEEDS, db_counts, newsroom, posted

SOAK_S = float(os.environ.get("NEWSBOT_SOAK_S", "180"))


@pytest.mark.long
@pytest.mark.timeout(SOAK_S + 600)
async def test_soak_kill_9_during_ingest_and_delivery_loses_nothing_and_posts_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(1919)
    kills = history_limited = 0
    markers: list[str] = []
    started = time.monotonic()
    async with newsroom(tmp_path, post_delay=0.3, NEWSBOT_INGEST_EVERY_S="1") as room:
        slack = room.slack
        seq = Counter[str]()
        while time.monotonic() - started < SOAK_S:
            for feed in rng.sample([f"f{i}" for i in range(N_FEEDS)], rng.randint(0, 2)):
                seq[feed] += 1
                markers.append(room.quote(feed, seq[feed]))
            if rng.random() < 0.2:
                slack.rate_limit_for("conversations.history", rng.uniform(3, 15), retry_after=1)
                history_limited += 1
            mid_post = rng.random() < 0.4
            await room.kill_after(rng.uniform(0.3, 8.0), or_when=lambda: mid_post and slack.posts_in_flight > 0)  # noqa: B023
            kills += 1
        await room.finish(markers, within=300, must=False)  # what did not arrive is counted as lost below

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
    assert set((await db_counts(room.db_url))["by_status"]) == {"sent"}
