"""`newsbot run` started while its database is locked (SQLite) or down (PostgreSQL) waits it out.

Another process holds an exclusive lock (a backup tool, a migration, an operator's sqlite3 shell).
The bot serves `/healthz` at once, answering 503 with the reason, retries the database with a
bounded backoff, and turns healthy soon after the lock is released. Its log says why in one line,
never the SQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from tests.reliability.helpers import Bot, RestartablePg, bot_env, cli, create_database, free_port, pg_available


@pytest.mark.parametrize("locked_s", [pytest.param(8, id="8s"), pytest.param(30, id="30s", marks=pytest.mark.long)])
async def test_run_waits_out_a_locked_database_and_turns_healthy_after_release(tmp_path: Path, locked_s: int) -> None:
    db = tmp_path / "newsbot.db"
    config = tmp_path / "newsbot.yaml"
    config.write_text(yaml.safe_dump({"feeds": []}))
    env = bot_env(f"sqlite:///{db}", config, free_port())
    await asyncio.to_thread(cli, env, "db", "upgrade")

    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("PRAGMA locking_mode=EXCLUSIVE")  # readers are shut out too, WAL or not
    lock.execute("BEGIN EXCLUSIVE")
    lock.execute("UPDATE alembic_version SET version_num = version_num")
    bot = await Bot(env, tmp_path / "bot.log").start()
    try:
        release_at = time.monotonic() + locked_s
        seen: set[str] = set()
        while time.monotonic() < release_at:
            bot.check_alive()  # waiting, not exiting
            status, body = await bot.health()
            if status:
                assert status == 503 and body["database"] != "ok", body
                seen.add(str(body["database"]))
            await asyncio.sleep(0.5)
        assert any(s.startswith("waiting: database is locked") for s in seen), seen
        lock.execute("ROLLBACK")
        lock.close()
        await bot.wait_healthy(10)
        assert await bot.stop() == 0, bot.log_tail()
    finally:
        if bot.proc is not None and bot.proc.returncode is None:
            bot.kill9()
            await bot.wait()
    waits = [r for r in bot.log_records() if str(r.get("event", "")).startswith("database not ready")]
    assert waits and all("\n" not in r["event"] and "SQL" not in r["event"] for r in waits)


@pytest.mark.postgres
@pytest.mark.skipif(not pg_available(), reason="no PostgreSQL binaries")
async def test_run_started_while_postgres_is_down_waits_and_turns_healthy_when_it_is_up(tmp_path: Path) -> None:
    pg = RestartablePg()
    admin = await asyncio.to_thread(pg.start)
    try:
        db_url = await create_database(admin, "waitstart")
        await asyncio.to_thread(pg.stop_server)
        config = tmp_path / "newsbot.yaml"
        config.write_text(yaml.safe_dump({"feeds": []}))
        bot = await Bot(bot_env(db_url, config, free_port()), tmp_path / "bot.log").start()
        try:
            reason = ""
            deadline = time.monotonic() + 30
            while not reason.startswith("waiting: "):
                assert time.monotonic() < deadline, bot.log_tail()
                bot.check_alive()
                status, body = await bot.health()
                if status:
                    assert status == 503, body
                    reason = str(body.get("database", ""))
                await asyncio.sleep(0.3)
            await asyncio.to_thread(pg.start_server)
            body = await bot.wait_healthy(30)
            assert body["database"] == "ok"
        finally:
            assert await bot.stop() == 0, bot.log_tail()
    finally:
        await asyncio.to_thread(pg.destroy)
