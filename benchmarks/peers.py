"""newsbot beside its peers on one loopback feed farm, in one run: CPU, wall and memory per cycle.

    .venv/bin/pip install -e '.[bench]'          # lemon24/reader (and the sgmllib3k it needs)
    .venv/bin/python benchmarks/peers.py [--feeds 1000] [--items 20] [--rounds 2]

Tools, each in a process of its own, against the same farm (benchmarks/ingest.py's: every third
item quotes a tracked figure, every tenth feed carries one shared wire story; no hostile feeds,
which would only time each tool's timeout):
- `feedparser`: feedparser alone parsing the farm's bodies, no fetching, no storing: the floor
  (it reads no JSON Feed: the farm's every fifth feed counts as no entries);
- `reader`: lemon24/reader `update_feeds()` into its SQLite file, first and second cycle;
- `reader+search`: the same, with `enable_search()` and `update_search()` after each update;
- `newsbot`: one `IngestService` on SQLite, parse workers included, statements and stories on.
Cycle 2 re-polls every feed unchanged (the farm answers 304 to a conditional request).

CPU is user + system time of the tool's whole process tree: its own, its live descendants' and
its reaped children's (/proc `cutime`/`cstime`), read when the tool reports a cycle done; setup
(imports, creating the database, adding the feeds) is not counted. Peak RSS is the largest sum of
the tree's resident memory sampled every 20 ms during the cycle. Runs are interleaved (each
round runs every tool once, in a rotated order): this machine's speed drifts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOOLS = ("feedparser", "reader", "reader+search", "newsbot")
TICK = os.sysconf("SC_CLK_TCK")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


# ------------------------------------------------------------------------------ process tree


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _tree(root: int) -> list[int]:
    """`root` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def tree_cpu(root: int) -> float:
    """CPU seconds of the tree: each live process's own, plus what its reaped children used."""
    total = 0
    for pid in _tree(root):
        st = _stat(pid)
        if st is not None:  # fields 14-17 of stat: utime stime cutime cstime (st[0] is field 3)
            total += sum(int(x) for x in st[11:15])
    return total / TICK


def tree_rss_mb(root: int) -> float:
    total = 0.0
    for pid in _tree(root):
        st = _stat(pid)
        if st is not None:
            total += int(st[21]) * PAGE_MB  # field 24: rss in pages
    return total


# ------------------------------------------------------------------------------ the tools (children)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _wait_go() -> None:
    sys.stdin.readline()


def _urls(port: int, feeds: int, vhosts: bool) -> list[str]:
    from tests.feedfarm import vhost

    return [f"http://{vhost(i % 50) if vhosts else '127.0.0.1'}:{port}/feeds/f{i}" for i in range(feeds)]


def child_feedparser(args: argparse.Namespace) -> None:
    import feedparser

    from benchmarks.ingest import build_farm
    from tests.feedfarm import render

    bodies = [render(f) for f in build_farm(args.feeds, args.items, 3).feeds.values()]
    _say("ready")
    _wait_go()
    n = sum(len(feedparser.parse(b, response_headers={"content-type": c}).entries) for b, c in bodies)
    _say(f"done {n}")
    _wait_go()
    _say("done 0")  # nothing to re-poll


def child_reader(args: argparse.Namespace, search: bool) -> None:
    from reader import make_reader

    reader = make_reader(str(Path(args.tmp) / "reader.sqlite"))
    for url in _urls(args.port, args.feeds, vhosts=False):
        reader.add_feed(url)
    if search:
        reader.enable_search()
    _say("ready")
    for _ in range(2):
        _wait_go()
        reader.update_feeds(scheduled=False)  # cycle 2 re-polls at once, as newsbot's does
        if search:
            reader.update_search()
        _say(f"done {reader.get_entry_counts().total}")


def child_newsbot(args: argparse.Namespace) -> None:
    import asyncio

    async def main() -> None:
        from sqlalchemy import func, select, update

        from bot.config import Limits, Settings, load_config
        from bot.ingest.feeds import FeedSpec, add_feed
        from bot.ingest.service import IngestService, make_fetcher
        from bot.runtime import heap
        from bot.store.db import make_engine, session_factory
        from bot.store.migrate import upgrade
        from bot.store.models import Article, Feed
        from tests.feedfarm import farm_resolver

        engine = make_engine(f"sqlite:///{Path(args.tmp) / 'newsbot.db'}")
        await upgrade(engine)
        sessions = session_factory(engine)
        async with sessions.begin() as s:
            for u in _urls(args.port, args.feeds, vhosts=True):
                await add_feed(s, FeedSpec(u))
        config = load_config(ROOT / "config" / "newsbot.yaml").model_copy(update={"feeds": [], "ingest": Limits(timeout_s=10.0)})
        settings = Settings(allow_private_feeds=True)
        svc = IngestService(sessions, config, settings, "peers", fetcher=make_fetcher(config, settings, resolver=farm_resolver))
        heap.settle()  # as `newsbot run` does once started
        loop = asyncio.get_running_loop()
        _say("ready")
        for cycle in (1, 2):
            await loop.run_in_executor(None, _wait_go)
            if cycle == 2:
                async with sessions.begin() as s:
                    await s.execute(update(Feed).values(next_check_at=func.now()))
            await svc.run_cycle()
            await svc.release_parse_workers()
            async with sessions() as s:
                _say(f"done {(await s.execute(select(func.count()).select_from(Article))).scalar()}")
        await svc.aclose()
        await engine.dispose()

    asyncio.run(main())


# ------------------------------------------------------------------------------ the parent


@dataclass
class Cycle:
    cpu: float
    wall: float
    peak_mb: float
    entries: int


@dataclass
class Runs:
    cycles: dict[tuple[str, int], list[Cycle]] = field(default_factory=dict)

    def add(self, tool: str, n: int, c: Cycle) -> None:
        self.cycles.setdefault((tool, n), []).append(c)

    def median(self, tool: str, n: int) -> Cycle | None:
        got = sorted(self.cycles.get((tool, n), []), key=lambda c: c.cpu)
        return got[len(got) // 2] if got else None


class Sampler(threading.Thread):
    """The largest summed RSS of a process tree, sampled every 20 ms until stopped.

    Also the tool's own process at that moment, so a peak reads as main process plus workers."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak, self.root_at_peak, self.stopped = root, 0.0, 0.0, threading.Event()

    def run(self) -> None:
        while True:
            total = tree_rss_mb(self.root)
            if total > self.peak:
                st = _stat(self.root)
                self.peak, self.root_at_peak = total, int(st[21]) * PAGE_MB if st else 0.0
            if self.stopped.wait(0.02):
                return


def run_tool(tool: str, args: argparse.Namespace, port: int, runs: Runs) -> None:
    tmp = tempfile.mkdtemp(prefix=f"peers-{tool.replace('+', '-')}-")
    cmd = [sys.executable, __file__, "--child", tool, "--port", str(port), "--tmp", tmp,
           "--feeds", str(args.feeds), "--items", str(args.items)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdin and proc.stdout
    try:
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{tool}: {line or 'exited before it was ready'}")
        for n in (1, 2):
            sampler = Sampler(proc.pid)
            c0, t0 = tree_cpu(proc.pid), time.perf_counter()
            sampler.start()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            done = proc.stdout.readline().split()
            wall, cpu = time.perf_counter() - t0, tree_cpu(proc.pid) - c0
            sampler.stopped.set()
            sampler.join()
            if not done or done[0] != "done":
                raise RuntimeError(f"{tool}: cycle {n} did not finish")
            runs.add(tool, n, Cycle(cpu, wall, sampler.peak, int(done[1])))
            print(f"  {tool:<14} cycle {n}: CPU {cpu:7.2f} s  wall {wall:7.2f} s  peak RSS {sampler.peak:6.0f} MiB"
                  f" (its main process {sampler.root_at_peak:.0f})"
                  f"  entries {done[1]}", flush=True)
        proc.stdin.close()
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["rm", "-rf", tmp], check=False)


def report(runs: Runs, items: int) -> None:
    print(f"\nmedians over the rounds ({items:,} items; CPU of the whole process tree)")
    print(f"  {'tool':<14} {'cycle':>5} {'CPU s':>8} {'ms/item':>8} {'wall s':>8} {'peak RSS MiB':>13}")
    for tool in TOOLS:
        for n in (1, 2):
            c = runs.median(tool, n)
            if c is not None:
                print(f"  {tool:<14} {n:>5} {c.cpu:8.2f} {1000 * c.cpu / items:8.3f} {c.wall:8.2f} {c.peak_mb:13.0f}")
    nb = {n: runs.median("newsbot", n) for n in (1, 2)}
    for n in (1, 2):
        mine = nb[n]
        if mine is None:
            continue
        for other in ("feedparser", "reader", "reader+search"):
            theirs = runs.median(other, n)
            if theirs is not None and theirs.cpu > 0:
                print(f"  cycle {n}: newsbot / {other:<14} CPU {mine.cpu / theirs.cpu:5.2f}x  "
                      f"wall {mine.wall / theirs.wall:5.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2, help="each tool runs once a round, rounds interleaved")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        {"feedparser": child_feedparser, "newsbot": child_newsbot}.get(
            args.child, lambda a: child_reader(a, search=args.child == "reader+search")
        )(args)
        return 0
    from benchmarks.ingest import serve

    tools = [t for t in args.tools.split(",") if t]
    parent, child = multiprocessing.get_context("spawn").Pipe()
    farm = multiprocessing.get_context("spawn").Process(target=serve, args=(args.feeds, args.items, child, 3), daemon=True)
    farm.start()
    port = parent.recv()
    print(f"peers: {args.feeds} feeds x {args.items} items, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"tools {', '.join(tools)}, {args.rounds} round(s)")
    runs = Runs()
    try:
        for r in range(args.rounds):
            order = tools[r % len(tools):] + tools[: r % len(tools)]
            print(f"round {r + 1}: {', '.join(order)}", flush=True)
            for tool in order:
                run_tool(tool, args, port, runs)
    finally:
        parent.send("stop")
        served = parent.recv()
        farm.join(5)
    report(runs, args.feeds * args.items)
    print(f"farm: {served['hits']} requests, {served['not_modified']} answered 304")
    print(json.dumps({f"{t} {n}": vars(c) for (t, n), cs in runs.cycles.items() for c in cs[-1:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
