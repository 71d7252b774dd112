"""Shared fixtures: a real database on both backends for every storage test.

PostgreSQL runs as a throwaway server started from the machine's initdb/pg_ctl on a free loopback
port (or the server named by NEWSBOT_TEST_PG_URL). The schema is migrated once into a template
database; each test gets a fresh copy, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import AppConfig, load_config
from bot.store.db import make_engine, session_factory
from bot.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: run `make test` (it installs postgresql) or set NEWSBOT_TEST_PG_URL"
        )
    return found


class PgServer:
    """initdb + pg_ctl in a temp folder; as root, run as the `postgres` user (the server refuses root)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        opts = (
            f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


async def _admin(url: str, *sql: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg", "postgresql")
    for attempt in range(50):
        try:
            conn = await asyncpg.connect(dsn)
            break
        except (OSError, asyncpg.CannotConnectNowError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.1)
    try:
        for s in sql:
            await conn.execute(s)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    external = os.environ.get("NEWSBOT_TEST_PG_URL")
    if external:
        yield external
        return
    server = PgServer()
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> str:
    base = pg_admin_url.rsplit("/", 1)[0]
    asyncio.run(_admin(pg_admin_url, "DROP DATABASE IF EXISTS newsbot_tmpl", "CREATE DATABASE newsbot_tmpl"))
    asyncio.run(_migrate(f"{base}/newsbot_tmpl"))
    return base


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "newsbot.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    base: str = request.getfixturevalue("pg_template")
    name = f"t_{os.getpid()}_{next(_counter)}_{int(time.time() * 1000) % 100000}"
    asyncio.run(_admin(f"{base}/postgres", f"CREATE DATABASE {name} TEMPLATE newsbot_tmpl"))
    return f"{base}/{name}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture(scope="session")
def app_config() -> AppConfig:
    return load_config(ROOT / "config" / "newsbot.yaml")


@pytest.fixture
def restore_discord_urls() -> Iterator[None]:
    """The Discord adapter points discord.py's global REST and gateway URLs at the fake: put them back."""
    import discord

    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


@pytest.fixture
async def fake_slack() -> AsyncIterator[Any]:
    from tests.fakes.slack_api import FakeSlack

    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def fake_discord(restore_discord_urls: None) -> AsyncIterator[Any]:
    from tests.fakes.discord_api import FakeDiscord

    server = await FakeDiscord().start()
    try:
        yield server
    finally:
        await server.stop()
