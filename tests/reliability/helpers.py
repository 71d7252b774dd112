"""Run the real `newsbot` command as a child process, the way Docker or systemd would.

The reliability tests and the production benchmarks drive the bot only through its outside
interface (CONTRACT.md): environment settings, a YAML config, `newsbot run`, `/healthz`, signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
NEWSBOT = str(Path(sys.executable).parent / "newsbot")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(db_url: str, config: Path, port: int, **extra: str) -> dict[str, str]:
    """A clean environment: no tokens from the developer's shell leak into a test bot."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "SLACK_", "DISCORD_"))}
    env.update(
        NEWSBOT_DATABASE_URL=db_url,
        NEWSBOT_CONFIG=str(config),
        NEWSBOT_HTTP_HOST="127.0.0.1",
        NEWSBOT_HTTP_PORT=str(port),
        NEWSBOT_ALLOW_PRIVATE_FEEDS="1",
        NEWSBOT_LOG_FORMAT="json",
        NEWSBOT_INGEST_EVERY_S="2",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Bot:
    """One `newsbot run` child process; logs go to a file so a failing test can show them."""

    env: dict[str, str]
    log_path: Path
    args: Sequence[str] = ("run",)
    prefix: Sequence[str] = ()  # e.g. ("taskset", "-c", "0") to run as on a 1-core box
    proc: asyncio.subprocess.Process | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.env["NEWSBOT_HTTP_PORT"])

    async def start(self) -> Bot:
        self._log = open(self.log_path, "ab")  # noqa: SIM115, ASYNC230 - closed in wait()
        self.proc = await asyncio.create_subprocess_exec(
            *self.prefix, NEWSBOT, *self.args, env=self.env, cwd=str(ROOT),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, start_new_session=True,
        )
        return self

    async def health(self, within: float = 3.0) -> tuple[int, dict[str, Any]]:
        """(status, body) of /healthz; (0, {}) when nothing answers."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as http, http.get(
                f"http://127.0.0.1:{self.port}/healthz"
            ) as r:
                return r.status, json.loads(await r.text() or "{}")
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return 0, {}

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{self.port}/metrics") as r:
            return await r.text()

    async def wait_healthy(self, within: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.check_alive()
            status, body = await self.health()
            if status == 200:
                return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"bot not healthy within {within}s; log tail:\n{self.log_tail()}")

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"bot exited with {self.proc.returncode}; log tail:\n{self.log_tail()}")

    def kill9(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the bot and its parse workers, like an OOM kill

    def terminate(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, within: float = 60.0) -> int:
        assert self.proc is not None
        try:
            rc = await asyncio.wait_for(self.proc.wait(), within)
        finally:
            if self.proc.returncode is None:
                self.kill9()
                await self.proc.wait()
            if self._log is not None:
                self._log.close()
                self._log = None
        return rc

    async def stop(self, within: float = 60.0) -> int:
        self.terminate()
        return await self.wait(within)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if isinstance(rec, dict):
                    out.append(rec)
        return out


class RestartablePg:
    """A throwaway PostgreSQL that a test may stop and start again (the data directory stays)."""

    def __init__(self) -> None:
        from tests.conftest import PgServer

        self.server = PgServer()
        self.url = ""

    def start(self) -> str:
        self.url = self.server.start()
        return self.url

    def _ctl(self, *args: str) -> None:
        from tests.conftest import _pg_bin

        cmd = [_pg_bin("pg_ctl"), "-D", str(self.server.data), *args]
        if self.server.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def stop_server(self) -> None:
        """Stop as an operator or a crash would: connections are cut, the data stays."""
        self._ctl("-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        s = self.server
        opts = (
            f"-p {s.port} -k {s.dir} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        self._ctl("-o", opts, "-l", str(s.dir / "log"), "-w", "start")

    def destroy(self) -> None:
        self.server.stop()


async def create_database(admin_url: str, name: str) -> str:
    import asyncpg

    dsn = admin_url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def pg_available() -> bool:
    from tests.conftest import _pg_bin

    try:
        _pg_bin("initdb")
    except RuntimeError:
        return bool(os.environ.get("NEWSBOT_TEST_PG_URL"))
    return shutil.which("runuser") is not None or os.geteuid() != 0


def opml(urls: Sequence[str]) -> bytes:
    from xml.sax.saxutils import quoteattr

    rows = "\n".join(f'    <outline type="rss" text="feed {i}" xmlUrl={quoteattr(u)}/>' for i, u in enumerate(urls))
    return f'<?xml version="1.0"?>\n<opml version="2.0"><head><title>farm</title></head><body>\n{rows}\n</body></opml>\n'.encode()


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run one `newsbot` command to completion; raise with its stderr when it fails."""
    proc = subprocess.run([NEWSBOT, *args], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"newsbot {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


@dataclass
class ScaleoutResult:
    processes: int
    feeds: int
    seconds: float  # from the feeds' import to the last feed polled
    hits: dict[str, int]  # feed path -> requests the farm answered
    articles: int
    distinct_urls: int
    items: int
    fetched_by_worker: dict[str, int]


async def run_scaleout(admin_url: str, workdir: Path, processes: int, n_feeds: int, items: int = 5,
                       name: str | None = None) -> ScaleoutResult:
    """`processes` × `newsbot run --role ingester` on one PostgreSQL sharing `n_feeds` loopback feeds.

    The ingesters start first (healthy, nothing to poll), then the feeds are imported at once, so
    every process competes for the same due feeds through FOR UPDATE SKIP LOCKED leases. Feeds
    are not due again for an hour: each should be requested exactly once.
    """
    import yaml
    from sqlalchemy import func, select

    from bot.store.db import make_engine
    from bot.store.models import Article, Feed, IngestCycle
    from tests.feedfarm import FarmFeed, FeedFarm, farm_items

    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - test set-up
    db_url = await create_database(admin_url, name or f"scale_{processes}_{n_feeds}_{os.getpid()}")
    config = workdir / "newsbot.yaml"
    config.write_text(yaml.safe_dump({"feeds": [], "ingest": {"min_interval_s": 3600, "max_interval_s": 7200}}))
    base_env = bot_env(db_url, config, 0, NEWSBOT_INGEST_EVERY_S="1")
    await asyncio.to_thread(cli, base_env, "db", "upgrade")
    engine = make_engine(db_url)
    bots: list[Bot] = []
    async with FeedFarm() as farm:
        try:
            urls = [farm.put(f"s{i}", FarmFeed(title=f"Scale {i}", items=farm_items(f"s{i}", items))) for i in range(n_feeds)]
            for i in range(processes):
                env = {**base_env, "NEWSBOT_HTTP_PORT": str(free_port())}
                bots.append(await Bot(env, workdir / f"ingester{i}.log", args=("run", "--role", "ingester")).start())
            for b in bots:
                await b.wait_healthy(120)
            (workdir / "feeds.opml").write_bytes(opml(urls))
            await asyncio.to_thread(cli, base_env, "feeds", "import", str(workdir / "feeds.opml"))
            t0 = time.monotonic()
            deadline = t0 + 600
            while True:
                async with engine.connect() as c:
                    done = (await c.execute(select(func.count()).where(Feed.last_checked_at.is_not(None)))).scalar_one()
                if done >= n_feeds:
                    break
                for b in bots:
                    b.check_alive()
                if time.monotonic() > deadline:
                    raise AssertionError(f"only {done}/{n_feeds} feeds polled; {bots[0].log_tail()}")
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - t0
            # Every feed has been polled; let each process finish and record its cycle before
            # stopping it, so the per-worker counts are complete (a loaded machine lags here).
            settle = time.monotonic() + 120
            while time.monotonic() < settle:
                async with engine.connect() as c:
                    recorded = sum(
                        int((stats or {}).get("fetched", 0))
                        for (stats,) in (await c.execute(select(IngestCycle.stats))).all()
                    )
                if recorded >= n_feeds:
                    break
                await asyncio.sleep(0.2)
            for b in bots:
                rc = await b.stop(60)
                assert rc == 0, b.log_tail()
            async with engine.connect() as c:
                n_articles = (await c.execute(select(func.count()).select_from(Article))).scalar_one()
                distinct = (await c.execute(select(func.count(func.distinct(Article.url))))).scalar_one()
                cycles = (await c.execute(select(IngestCycle.worker, IngestCycle.stats))).all()
            by_worker: dict[str, int] = {}
            for worker, stats in cycles:
                by_worker[str(worker)] = by_worker.get(str(worker), 0) + int((stats or {}).get("fetched", 0))
            hits = {f"/feeds/s{i}": farm.hits.get(f"/feeds/s{i}", 0) for i in range(n_feeds)}
            return ScaleoutResult(processes, n_feeds, seconds, hits, n_articles, distinct, n_feeds * items, by_worker)
        finally:
            for b in bots:
                if b.proc is not None and b.proc.returncode is None:
                    b.kill9()
                    await b.wait(10)
            await engine.dispose()
