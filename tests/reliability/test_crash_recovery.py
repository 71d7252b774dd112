"""kill -9 at random moments while the bot ingests and delivers: nothing lost, nothing posted twice.

The real `newsbot run` (SQLite, the default deployment) polls loopback feeds and posts alerts to a
fake Slack Web API. Between crashes new articles quoting a tracked figure appear in the feeds. The
process group is SIGKILLed at a random moment of its life (during start-up and migrations, mid-poll,
mid-post) 20 times and restarted each time; then one last run is left to finish. At the end:
every statement's alert reached every subscribed channel, and no message was posted twice.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.outlets import CHANNELS, N_FEEDS, db_counts, newsroom, posted


@pytest.mark.parametrize("kills", [pytest.param(20, id="20-kills"), pytest.param(60, id="60-kills", marks=pytest.mark.long)])
async def test_kill_9_twenty_times_loses_nothing_and_posts_nothing_twice(tmp_path: Path, kills: int) -> None:
    rng = random.Random(8)
    markers: list[str] = []
    seq = Counter[str]()
    async with newsroom(tmp_path) as room:
        for _round in range(kills):
            for feed in rng.sample([f"f{i}" for i in range(N_FEEDS)], 1):
                seq[feed] += 1
                markers.append(room.quote(feed, seq[feed]))
            await room.kill_after(rng.uniform(0.3, 5.0))
        await room.finish(markers)
    slack, db_url, log = room.slack, room.db_url, room.log

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
