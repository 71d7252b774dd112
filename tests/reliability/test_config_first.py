"""The YAML is the one source of truth for channels and subscriptions, whichever command runs first.

`newsbot ingest --once` before `newsbot run` has ever started must queue the alerts of the
config's channels, and the first `run` must deliver each of them exactly once.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from tests.reliability.helpers import cli
from tests.reliability.outlets import CHANNELS, db_counts, newsroom, posted


async def test_ingest_before_run_ever_started_delivers_every_alert_once(tmp_path: Path) -> None:
    async with newsroom(tmp_path, feeds=1, backfilled=False) as room:
        await asyncio.to_thread(cli, room.env, "ingest", "--once")  # the first poll is a backfill
        markers = [room.quote("f0", n) for n in range(3)]
        await asyncio.to_thread(cli, room.env, "ingest", "--once", "--all")
        queued = (await db_counts(room.db_url))["by_status"]
        assert queued.get("pending", 0) == len(markers) * len(CHANNELS), queued
        await room.finish(markers, within=60)
    slack = room.slack
    for channel, keys in posted(slack).items():
        assert len(keys) == len(markers) and set(Counter(keys).values()) == {1}, (channel, keys)
        text = json.dumps(slack.messages[channel])
        assert all(text.count(m) >= 1 for m in markers), channel
