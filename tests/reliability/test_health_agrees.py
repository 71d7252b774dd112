"""Health in one vocabulary: after a cycle where 10 feeds failed, `/news status`, `stats --json`,
`/metrics` and `/healthz` all say 10 failing (and agree on in backoff and disabled)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import yaml

from tests.feedfarm import FarmFeed, FeedFarm, farm_items
from tests.reliability.helpers import Bot, bot_env, cli, free_port

FAILING = 10


async def test_after_ten_feeds_fail_status_stats_metrics_and_healthz_say_ten_failing(tmp_path: Path) -> None:
    async with FeedFarm() as farm:
        good = farm.put("good", FarmFeed(title="Good", items=farm_items("good", 2)))
        bad = [farm.url(f"/h/status/500?n={i}") for i in range(FAILING)]
        gone = farm.put("gone", FarmFeed(title="Gone", items=farm_items("gone", 1)))
        config = tmp_path / "newsbot.yaml"
        feeds = [{"url": u} for u in [good, *bad]]
        config.write_text(yaml.safe_dump({"feeds": [{"url": good}, {"url": gone}]}))
        env = bot_env(f"sqlite:///{tmp_path}/newsbot.db", config, free_port(), NEWSBOT_INGEST_EVERY_S="3600")
        await asyncio.to_thread(cli, env, "ingest", "--once")
        config.write_text(yaml.safe_dump({"feeds": feeds}))  # "gone" leaves the file: disabled
        cycle = json.loads((await asyncio.to_thread(cli, env, "ingest", "--once", "--json")).stdout)
        assert cycle["failed"] == FAILING

        stats = json.loads((await asyncio.to_thread(cli, env, "stats", "--json")).stdout)
        status = json.loads((await asyncio.to_thread(cli, env, "ask", "--json", "status")).stdout)
        bot = await Bot(env, tmp_path / "bot.log").start()
        try:
            await bot.wait_healthy()
            _, health = await bot.health()
            metrics = await bot.metrics()
        finally:
            assert await bot.stop() == 0, bot.log_tail()

    assert (stats["feeds"], stats["feeds_failing"], stats["feeds_in_backoff"], stats["feeds_disabled"]) == (12, 10, 10, 1)
    assert (health["feeds"], health["feeds_failing"], health["feeds_in_backoff"], health["feeds_disabled"]) == (12, 10, 10, 1)
    gauges = {m[0]: float(m[1]) for m in re.findall(r'^newsbot_feeds\{state="(\w+)"\} (\S+)$', metrics, re.M)}
    assert gauges == {"total": 12, "failing": 10, "in_backoff": 10, "disabled": 1}
    fields = {k: v for s in status["sections"] for i in s["items"] for k, v in i.get("fields", [])}
    assert fields["feeds"] == "12 (10 failing, 10 in backoff, 1 disabled)"
    failing_listed = [i for s in status["sections"] if s.get("heading") == "Failing feeds" for i in s["items"]]
    assert len(failing_listed) == 5  # the five worst, each marked failing
    assert all(dict(i["fields"])["state"].startswith("failing") for i in failing_listed)
