"""Scale-out: ingest throughput of 1, 2 (and 3) `newsbot run --role ingester` processes on one PostgreSQL.

Each run starts the ingesters on a fresh database, imports `--feeds` loopback feeds at once and
times until every feed has been polled; the farm's request counts show each feed was fetched
exactly once. Target on a 2-core machine: two processes at least 1.7x the throughput of one.
Figures only. The PostgreSQL server is a throwaway one (initdb) unless --pg-url is given.

Two modes (`--modes`):
- `unpinned`: the processes may use every core (the parse workers too), as on one bigger box.
  One ingester already keeps both cores busy here, so a second mostly competes for them.
- `pinned`: ingester i is limited to core i (taskset), as on separate 1-core boxes sharing one
  PostgreSQL; it then parses in a thread beside its event loop (no worker processes on 1 core).
  PostgreSQL and the feed farm still share this machine's cores: they are not on separate boxes.

Where the time goes: CPU seconds of the ingesters' main processes, of their parse workers, of the
PostgreSQL server (every backend, from /proc), and of this process (it serves the feed farm),
from the import to the last feed polled; and what the database backends were doing, sampled from
`pg_stat_activity` every 0.1 s (running, idle in a transaction while the ingester works, waiting
for an advisory lock (the statement locks, one per speaker), for a row lock, to extend a table's
file, other waits), as the average number of backends; and how much of the time any statement lock
(`pg_advisory_xact_lock` in bot/archive/statement_store.py, held until commit) was held at all, and
whether its holder was running a statement or idle in its transaction while the ingester's Python
code worked. The farm's items quote nobody unless `--quote-every N`: then every Nth item quotes a
tracked figure (as benchmarks/ingest.py's farm does), and the ingesters track the figures of
config/newsbot.yaml, so the statement path and its locks are exercised.

    .venv/bin/python benchmarks/scaleout.py [--feeds 1000] [--items 20] [--processes 1,2,3] [--modes unpinned,pinned] [--quote-every 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability.helpers import (  # noqa: E402
    Bot,
    RestartablePg,
    bot_env,
    cli,
    create_database,
    free_port,
    opml,
)

TICK = os.sysconf("SC_CLK_TCK")
# "extend": waiting to extend a table's file (PostgreSQL's relation extension lock, taken by
# concurrent INSERTs into one table), apart from waits on locks the code takes (advisory, rows)
STATES = ("running", "idle in tx", "advisory lock", "row lock", "extend", "other wait")
HELD = ("held, holder running", "held, holder idle in tx")  # any statement lock (bot/archive/statement_store.py)


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def own_cpu(pid: int) -> float:
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / TICK if f else 0.0


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its children that have exited (reaped) and those still running."""
    f = _stat(pid)
    if not f:
        return 0.0
    return sum(int(x) for x in f[11:15]) / TICK + sum(tree_cpu(c) for c in _children(pid))


@dataclass
class Cpu:
    main: float = 0.0  # the ingesters' own processes
    workers: float = 0.0  # their parse workers
    postgres: float = 0.0  # the whole server: every backend and helper
    bench: float = 0.0  # this process: the feed farm, the progress poll and the sampler

    @classmethod
    def sample(cls, pids: list[int], postmaster: int | None) -> Cpu:
        mains = [own_cpu(p) for p in pids]
        trees = [tree_cpu(p) for p in pids]
        return cls(sum(mains), sum(trees) - sum(mains), tree_cpu(postmaster) if postmaster else 0.0, time.process_time())

    def __sub__(self, o: Cpu) -> Cpu:
        return Cpu(self.main - o.main, self.workers - o.workers, self.postgres - o.postgres, self.bench - o.bench)

    @property
    def total(self) -> float:
        return self.main + self.workers + self.postgres + self.bench


@dataclass
class Run:
    mode: str
    processes: int
    feeds: int
    seconds: float
    exactly_once: bool
    split: str
    cpu: Cpu
    waits: Counter[str] = field(default_factory=Counter)
    samples: int = 0
    holding: Counter[str] = field(default_factory=Counter)  # what a statement lock's holder was doing
    connections: int = 0  # database sessions opened while ingesting (pool overflow churn shows here)


async def sample_backends(dsn: str, stop: asyncio.Event, into: Counter[str], queries: Counter[str] | None = None) -> int:
    """What the database's client backends are doing, every 0.1 s, until told to stop."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    n = 0
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            held = await conn.fetchrow(
                "SELECT a.state, a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() LIMIT 1"
            )
            if held is not None:
                holder, query = held
                idle = holder.startswith("idle in transaction")
                into[HELD[1] if idle else HELD[0]] += 1
                if queries is not None:  # what the holder runs, or ran last before going idle
                    queries[("lock held, idle after " if idle else "lock held, running ") + " ".join((query or "").split())[:60]] += 1
            n += 1
            for state, wtype, wevent, query in rows:
                if state == "idle":
                    continue
                if state and state.startswith("idle in transaction"):
                    into["idle in tx"] += 1
                    if queries is not None:
                        queries["idle in tx after " + " ".join((query or "").split())[:62]] += 1
                elif wtype is None or (wtype == "Client" and state == "active"):
                    into["running"] += 1
                elif wtype == "Lock" and wevent == "advisory":
                    into["advisory lock"] += 1
                elif wtype == "Lock" and wevent == "extend":
                    into["extend"] += 1
                elif wtype == "Lock":
                    into["row lock"] += 1
                else:
                    into["other wait"] += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    finally:
        await conn.close()
    return n


async def one_run(admin_url: str, workdir: Path, mode: str, processes: int, n_feeds: int, items: int,
                  postmaster: int | None, quote_every: int = 0) -> Run:
    """`processes` ingesters share `n_feeds` loopback feeds through FOR UPDATE SKIP LOCKED leases.

    They start first (healthy, nothing to poll), then the feeds are imported at once. Feeds are
    not due again for an hour: each should be requested exactly once.
    """
    import yaml
    from sqlalchemy import func, select

    from bot.store.db import make_engine
    from bot.store.models import Article, Feed, IngestCycle
    from tests.feedfarm import FarmFeed, FeedFarm

    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - set-up
    db_url = await create_database(admin_url, f"bench_scale_{mode}_{processes}")
    config = workdir / "newsbot.yaml"
    settings: dict[str, object] = {"feeds": [], "ingest": {"min_interval_s": 3600, "max_interval_s": 7200}}
    if quote_every:  # the shipped figures, so the farm's quotes are attributed to tracked people
        shipped = yaml.safe_load((ROOT / "config" / "newsbot.yaml").read_text())
        settings["figures"] = shipped["figures"]
    config.write_text(yaml.safe_dump(settings))
    base_env = bot_env(db_url, config, 0, NEWSBOT_INGEST_EVERY_S="1")
    await asyncio.to_thread(cli, base_env, "db", "upgrade")
    engine = make_engine(db_url)
    cpus = sorted(os.sched_getaffinity(0))
    bots: list[Bot] = []
    async with FeedFarm() as farm:
        try:
            urls = [farm.put(f"s{i}", FarmFeed(title=f"Scale {i}", items=feed_items(i, items, quote_every))) for i in range(n_feeds)]
            for i in range(processes):
                env = {**base_env, "NEWSBOT_HTTP_PORT": str(free_port())}
                prefix = ("taskset", "-c", str(cpus[i % len(cpus)])) if mode == "pinned" else ()
                bots.append(await Bot(env, workdir / f"ingester{i}.log", args=("run", "--role", "ingester"), prefix=prefix).start())
            for b in bots:
                await b.wait_healthy(120)
            pids = [b.proc.pid for b in bots if b.proc is not None]
            (workdir / "feeds.opml").write_bytes(opml(urls))
            await asyncio.to_thread(cli, base_env, "feeds", "import", str(workdir / "feeds.opml"))
            sessions0 = await opened(engine)
            t0 = time.monotonic()
            cpu0 = Cpu.sample(pids, postmaster)
            waits: Counter[str] = Counter()
            holding: Counter[str] = Counter()
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_backends(db_url.replace("postgresql+asyncpg", "postgresql"), stop, waits, holding))
            deadline = t0 + 900
            while True:
                # autocommit: no transaction of this poll's is counted as idle in one
                async with engine.connect() as c:
                    c = await c.execution_options(isolation_level="AUTOCOMMIT")
                    done = (await c.execute(select(func.count()).where(Feed.last_checked_at.is_not(None)))).scalar_one()
                if done >= n_feeds:
                    break
                for b in bots:
                    b.check_alive()
                if time.monotonic() > deadline:
                    raise AssertionError(f"only {done}/{n_feeds} feeds polled; {bots[0].log_tail()}")
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - t0
            cpu = Cpu.sample(pids, postmaster) - cpu0
            stop.set()
            samples = await sampler
            connections = await opened(engine) - sessions0 - 1  # less the sampler's
            settle = time.monotonic() + 120  # let every process record its cycle
            while time.monotonic() < settle:
                async with engine.connect() as c:
                    recorded = sum(int((s or {}).get("fetched", 0)) for (s,) in (await c.execute(select(IngestCycle.stats))).all())
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
            by_worker: Counter[str] = Counter()
            for worker, stats in cycles:
                by_worker[str(worker)] += int((stats or {}).get("fetched", 0))
            hits = [farm.hits.get(f"/feeds/s{i}", 0) for i in range(n_feeds)]
            once = all(h == 1 for h in hits) and n_articles == distinct == n_feeds * items
            split = "/".join(str(v) for v in sorted(by_worker.values(), reverse=True))
            return Run(mode, processes, n_feeds, seconds, once, split, cpu, waits, samples, holding, connections)
        finally:
            for b in bots:
                if b.proc is not None and b.proc.returncode is None:
                    b.kill9()
                    await b.wait(10)
            await engine.dispose()


async def opened(engine) -> int:  # type: ignore[no-untyped-def]
    """Sessions ever opened on the database (PostgreSQL 14+; 0 before)."""
    from sqlalchemy import text

    async with engine.connect() as c:
        c = await c.execution_options(isolation_level="AUTOCOMMIT")
        try:
            return int((await c.execute(text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()"))).scalar_one())
        except Exception:
            return 0


def feed_items(i: int, items: int, quote_every: int):  # type: ignore[no-untyped-def]
    """Feed i's items; with `quote_every`, every Nth item (across the farm) quotes a tracked figure."""
    from benchmarks.ingest import quoted
    from tests.feedfarm import farm_items

    its = farm_items(f"s{i}", items)
    if not quote_every:
        return its
    return [quoted(it, i + k) if (i * items + k) % quote_every == 0 else it for k, it in enumerate(its)]


def postmaster_pid(pg: RestartablePg | None) -> int | None:
    if pg is None:
        return None
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((pg.server.data / "postmaster.pid").read_text().split()[0])
    return None


async def run(args: argparse.Namespace) -> None:
    pg = None
    admin = args.pg_url
    if not admin:
        pg = RestartablePg()
        admin = await asyncio.to_thread(pg.start)
    postmaster = postmaster_pid(pg)
    ncpu = len(os.sched_getaffinity(0))
    try:
        with tempfile.TemporaryDirectory(prefix="newsbot-scale-") as tmp:
            for mode in args.modes.split(","):
                base = None
                print(f"\n{mode}: " + ("each ingester on its own core (taskset), parsing in a thread" if mode == "pinned"
                                       else "every process may use every core"))
                print(f"{'processes':>9} {'feeds':>6} {'seconds':>8} {'feeds/s':>8} {'speed-up':>8}  exactly-once  {'work split':<12}"
                      f" CPU s: {'main':>6} {'parse':>6} {'pg':>6} {'farm':>6}  busy")
                runs = []
                for n in [int(x) for x in args.processes.split(",")]:
                    r = await one_run(admin, Path(tmp) / f"{mode}{n}", mode, n, args.feeds, args.items, postmaster, args.quote_every)
                    runs.append(r)
                    rate = r.feeds / r.seconds
                    base = base or rate
                    c = r.cpu
                    busy = c.total / (r.seconds * ncpu) * 100
                    print(f"{n:>9} {r.feeds:>6} {r.seconds:>8.1f} {rate:>8.1f} {rate / base:>7.2f}x  {'yes' if r.exactly_once else 'NO':<12}  "
                          f"{r.split:<12}        {c.main:>6.1f} {c.workers:>6.1f} {c.postgres if postmaster else float('nan'):>6.1f} {c.bench:>6.1f}  {busy:3.0f}%")
                print("  database backends, average number in each state while ingesting (pg_stat_activity every 0.1 s):")
                for r in runs:
                    avg = "   ".join(f"{s} {r.waits[s] / max(r.samples, 1):.2f}" for s in STATES)
                    held = "   ".join(f"{h} {r.waits[h] / max(r.samples, 1):4.0%}" for h in HELD)
                    print(f"  {r.processes} process{'es' if r.processes > 1 else '  '}: {avg}   | statement locks {held}"
                          f"   | connections opened {r.connections}")
                if args.holders:
                    for r in runs:
                        print(f"  {r.processes} process{'es' if r.processes > 1 else ''}: what a statement lock's holder ran, and"
                              " what backends idle in a transaction ran last (average number):")
                        for q, n in r.holding.most_common(args.holders):
                            print(f"    {n / max(r.samples, 1):5.2f}  {q}")
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.destroy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--processes", default="1,2,3")
    ap.add_argument("--modes", default="unpinned,pinned", help="unpinned, pinned (one core per ingester), or both")
    ap.add_argument("--quote-every", type=int, default=0, help="every Nth item quotes a tracked figure (0: none)")
    ap.add_argument("--holders", type=int, default=0, help="also print the N commonest statements a statement lock's holder ran")
    ap.add_argument("--pg-url", default=None, help="an admin URL of an existing server (default: a throwaway one)")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}   load average at start: {os.getloadavg()[0]:.2f}   quote every: {args.quote_every or 'none'}"
          "   (PostgreSQL and the feed farm run on the same cores)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
