"""The `newsbot feeds …` and `newsbot ingest --once` commands, run as a subprocess against the feed farm."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.feedfarm import FarmFeed, FeedFarm, farm_items

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def newsbot(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bot.cli.main import main; main()", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def environment(db_url: str, tmp_path: Path, allow_private: bool = True) -> dict[str, str]:
    cfg = tmp_path / "newsbot.yaml"
    cfg.write_text("feeds: []\ningest: {min_interval_s: 60, timeout_s: 2}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "SLACK_", "DISCORD_"))}
    env.update(NEWSBOT_DATABASE_URL=db_url, NEWSBOT_CONFIG=str(cfg))
    if allow_private:
        env["NEWSBOT_ALLOW_PRIVATE_FEEDS"] = "1"
    return env


async def test_feed_list_management_and_ingest(db_url: str, tmp_path: Path) -> None:
    env = environment(db_url, tmp_path)
    async with FeedFarm() as farm:
        good = farm.put("good", FarmFeed("Good outlet", farm_items("good", 3)))
        farm.put("advertised", FarmFeed("Advertised", farm_items("adv", 2)))
        opml = tmp_path / "in.opml"
        opml.write_text(
            f'<opml version="2.0"><body><outline text="nato"><outline type="rss" text="Good" xmlUrl="{good}"/>'
            f'<outline type="rss" text="Broken" xmlUrl="{farm.url("/h/status/500")}"/></outline></body></opml>'
        )
        code, out, err = await newsbot(env, "feeds", "import", str(opml))
        assert code == 0 and "added=2" in out, err
        code, out, _ = await newsbot(env, "feeds", "add", farm.url("/h/html-alt"), "--discover", "--topic", "trump")
        assert code == 0 and f"added: {farm.url('/feeds/advertised')}" in out

        code, out, err = await newsbot(env, "ingest", "--once", "--json")
        assert code == 0, err
        stats = json.loads(out)
        assert (stats["fetched"], stats["new"], stats["failed"]) == (2, 5, 1)
        assert stats["failures"] == [{"url": farm.url("/h/status/500"), "reason": "HTTP 500"}]

        code, out, _ = await newsbot(env, "ingest", "--once", "--all")
        assert code == 0 and "not_modified=2" in out and "new=0" in out
        assert f"failed: {farm.url('/h/status/500')}: HTTP 500" in out

        code, out, _ = await newsbot(env, "feeds", "list", "--json")
        rows = [json.loads(line) for line in out.splitlines()]
        assert rows[0]["url"] == farm.url("/h/status/500") and rows[0]["state"] == "failing"
        assert rows[0]["consecutive_failures"] == 2 and rows[0]["last_error"] == "HTTP 500"
        assert {r["url"]: r["topics"] for r in rows}[farm.url("/feeds/advertised")] == ["trump"]

        code, out, _ = await newsbot(env, "feeds", "remove", farm.url("/h/status/500"))
        assert code == 0
        code, out, _ = await newsbot(env, "feeds", "export")
        assert code == 0 and out.startswith("<?xml") and good in out and "/h/status/500" not in out


async def test_private_feed_refused_without_opt_in(db_url: str, tmp_path: Path) -> None:
    env = environment(db_url, tmp_path, allow_private=False)
    async with FeedFarm() as farm:
        url = farm.put("f", FarmFeed("F", farm_items("f", 1)))
        code, _, err = await newsbot(env, "feeds", "add", "ftp://nope.example/feed")
        assert code == 2 and "not an http(s) feed URL" in err
        code, _, err = await newsbot(env, "feeds", "add", url)  # refused where it is added ...
        assert code == 2 and "refused: resolves to loopback address 127.0.0.1" in " ".join(err.replace("│", " ").split())
        Path(env["NEWSBOT_CONFIG"]).write_text(f"feeds: [{{url: '{url}'}}]\n")  # noqa: ASYNC240 - and where it is fetched
        code, out, _ = await newsbot(env, "ingest", "--once")
        assert code == 0 and "failed=1" in out and "refused: resolves to loopback address 127.0.0.1" in out
        assert farm.hits["/feeds/f"] == 0
