"""`newsbot backup PATH` copies a live SQLite archive; restoring the copy reads back the same."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.feedfarm import FarmFeed, FeedFarm, farm_items
from tests.reliability.helpers import NEWSBOT, ROOT, Bot, bot_env, cli, free_port


async def test_backup_of_a_live_database_restores_and_reads_back(tmp_path: Path) -> None:
    live = tmp_path / "live" / "newsbot.db"
    live.parent.mkdir()
    async with FeedFarm() as farm:
        feeds = [farm.put(f"b{i}", FarmFeed(title=f"Outlet {i}", items=farm_items(f"b{i}", 20))) for i in range(5)]
        config = tmp_path / "newsbot.yaml"
        config.write_text(yaml.safe_dump({"feeds": [{"url": u, "full_text": "never"} for u in feeds]}))
        env = bot_env(f"sqlite:///{live}", config, free_port(), NEWSBOT_INGEST_EVERY_S="1")
        await asyncio.to_thread(cli, env, "seed")
        bot = await Bot(env, tmp_path / "bot.log").start()
        try:
            await bot.wait_healthy()
            backup = tmp_path / "newsbot-backup.db"
            out = (await asyncio.to_thread(cli, env, "backup", str(backup))).stdout  # while the bot writes
            assert out.startswith(f"backed up to {backup}")
            again = await asyncio.to_thread(
                subprocess.run, [NEWSBOT, "backup", str(backup)], env=env, cwd=ROOT, capture_output=True, text=True
            )
            assert again.returncode == 1 and "exists" in again.stderr  # never overwrites a backup
        finally:
            assert await bot.stop() == 0, bot.log_tail()

    # Restore as docs/notes-19.md says: stop the bot, put the copy in place, start it.
    restored = tmp_path / "restored" / "newsbot.db"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    assert not Path(f"{backup}-wal").exists()  # noqa: ASYNC240 - one self-contained file
    renv = {**env, "NEWSBOT_DATABASE_URL": f"sqlite:///{restored}"}
    stats = json.loads((await asyncio.to_thread(cli, renv, "stats", "--json")).stdout)
    assert stats["articles"] > 0 and stats["feeds"] == 5
    hits = (await asyncio.to_thread(cli, renv, "search", "rutte", "--json")).stdout.splitlines()
    assert hits and json.loads(hits[0])["title"]


def test_backup_of_postgres_points_to_pg_dump(tmp_path: Path) -> None:
    config = tmp_path / "newsbot.yaml"
    config.write_text("feeds: []\n")
    env = bot_env("postgresql+asyncpg://newsbot:x@127.0.0.1:1/newsbot", config, 0)
    proc = subprocess.run([NEWSBOT, "backup", str(tmp_path / "b.db")], env=env, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "pg_dump" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
