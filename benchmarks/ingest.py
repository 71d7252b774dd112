"""Ingestion benchmark: N loopback feeds of M items (plus hostile ones), two cycles, figures printed.

    .venv/bin/python benchmarks/ingest.py [--feeds 1000] [--items 20] [--db sqlite|postgres]

Cycle 1 stores everything (all new); cycle 2 re-polls the healthy feeds (all answer 304). The
baseline is feedparser alone parsing the same bodies, serially, in this process. The farm runs in
a child process so it does not share this process's CPU time or memory figures. Feeds are spread
over `--hosts` virtual publisher hosts (all resolved to 127.0.0.1 by the farm's resolver): the
fetcher's per-host politeness limit stays on, and the figures measure the engine rather than
two connections to one host.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTILE = ("/h/status/500", "/h/slow", "/h/loop-a", "/h/big", "/h/bomb", "/h/junk", "/h/html", "/h/html-alt")
WIRE_EVERY = 10  # every 10th feed also carries one shared wire story (stored once, one story)


SPEAKERS = ("Rutte", "Zelensky", "Trump", "Macron", "Merz", "Lavrov", "Starmer", "von der Leyen")


def quoted(item, n: int):  # type: ignore[no-untyped-def]
    """The item with a paragraph of what a tracked figure said: a direct quote, then reported speech."""
    from dataclasses import replace

    from tests.feedfarm import prose

    who = SPEAKERS[n % len(SPEAKERS)]
    said = prose(f"q{item.guid}", 18).rstrip(".")
    more = prose(f"r{item.guid}", 12).rstrip(".").lower()
    quote = f"<p>\u201c{said},\u201d {who} told reporters on Tuesday. He said that {more}.</p>"
    return replace(item, body=item.body + quote)


def build_farm(feeds: int, items: int, quote_every: int = 0):  # type: ignore[no-untyped-def]
    """The loopback farm; `quote_every=3`: every third item also quotes a tracked figure, as news does."""
    from tests.feedfarm import FarmFeed, FarmItem, FeedFarm, farm_items, prose

    farm = FeedFarm(cap_bytes=10 * 1024 * 1024, slow_s=60.0)
    wire_body = f"<p>{prose('wire', 120)}</p>"
    fmts = ("rss", "rss", "atom", "json", "rdf")
    for i in range(feeds):
        its = farm_items(f"f{i}", items)
        if quote_every:
            its = [quoted(it, i + k) if (i * items + k) % quote_every == 0 else it for k, it in enumerate(its)]
        if i % WIRE_EVERY == 0:
            its[-1] = FarmItem(f"urn:wire:{i}", f"Wire copy seen by feed {i}", wire_body, f"https://o{i}.example/wire", its[-1].published)
        farm.put(f"f{i}", FarmFeed(f"Outlet {i}", its, fmt=fmts[i % len(fmts)]))
    return farm


def serve(feeds: int, items: int, conn, quote_every: int = 0) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        farm = build_farm(feeds, items, quote_every)
        await farm.start()
        for name in farm.feeds:  # render once up front
            farm._rendered(name)
        conn.send(farm.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        conn.send({"hits": sum(farm.hits.values()), "not_modified": sum(farm.not_modified.values())})
        await farm.stop()

    asyncio.run(main())


def feedparser_alone(feeds: int, items: int, quote_every: int = 0) -> tuple[float, int]:
    import feedparser

    from tests.feedfarm import render

    farm = build_farm(feeds, items, quote_every)
    bodies = [render(f) for f in farm.feeds.values()]
    runs = []
    for _ in range(3):  # the median of three: one 7-second run moves by a third with the machine's state
        t0 = time.perf_counter()
        n = 0
        for body, ctype in bodies:
            n += len(feedparser.parse(body, response_headers={"content-type": ctype}).entries)
        runs.append(time.perf_counter() - t0)
    print(f"feedparser alone, three runs: {', '.join(f'{r:.2f}' for r in runs)} s")
    return sorted(runs)[1], n


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process (the event loop's, SQLite's, ...), from /proc."""
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = "event loop" if int(task.name) == os.getpid() else f"thread {task.name}"
        out[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, db_url: str) -> None:
    from sqlalchemy import func, select, update

    from bot.config import Limits, Settings, load_config
    from bot.ingest.feeds import FeedSpec, add_feed
    from bot.ingest.service import IngestService, make_fetcher, usable_cpus
    from bot.runtime import heap
    from bot.store.db import make_engine, session_factory
    from bot.store.migrate import upgrade
    from bot.store.models import Article, Feed, StatementRow, Story
    from tests.feedfarm import farm_resolver, vhost

    if args.skip_hooks:
        import bot.ingest.pipeline as pipeline

        async def no_hooks(_session: object, batch: list[object], *_a: object, **_k: object) -> list[int]:
            return [0] * len(batch)

        pipeline.after_store_many = no_hooks  # type: ignore[assignment]

    parent, child = multiprocessing.get_context("spawn").Pipe()
    farm_proc = multiprocessing.get_context("spawn").Process(target=serve, args=(args.feeds, args.items, child, args.quote_every), daemon=True)
    farm_proc.start()
    port = parent.recv()
    base = f"http://127.0.0.1:{port}"

    engine = make_engine(db_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    urls = [f"http://{vhost(i % args.hosts)}:{port}/feeds/f{i}" for i in range(args.feeds)]
    hostile = [base + p for p in HOSTILE]
    if args.hostile_last:  # the worst place for the slow one: the cycle ends waiting out its timeout
        urls += hostile
    else:  # spread through the list, as bad feeds sit anywhere in an operator's list
        n = len(urls)
        for k, url in reversed(list(enumerate(hostile))):  # from the back: earlier positions stay put
            urls.insert((k + 1) * n // (len(hostile) + 1), url)
    async with sessions.begin() as s:
        for u in urls:
            await add_feed(s, FeedSpec(u))
    config = load_config(ROOT / "config" / "newsbot.yaml").model_copy(
        update={"feeds": [], "ingest": Limits(timeout_s=args.timeout)}
    )
    settings = Settings(allow_private_feeds=True)
    fetcher = make_fetcher(config, settings, resolver=farm_resolver)
    svc = IngestService(sessions, config, settings, "bench", fetcher=fetcher, parse_processes=args.processes)
    heap.settle()  # as `newsbot run` does once started (bot/heap.py); the baseline below runs with it too
    print(f"feeds={args.feeds} items={args.items} hostile={len(HOSTILE)} db={args.db} "
          f"hosts={args.hosts} hostile_at={'end' if args.hostile_last else 'spread'} parse_processes={svc._processes} cpus={os.cpu_count()} hooks={'off' if args.skip_hooks else 'on'} "
          f"load={os.getloadavg()[0]:.1f}")

    if args.no_baseline:
        fp_s = float("nan")
    else:
        fp_s, fp_entries = feedparser_alone(args.feeds, args.items, args.quote_every)
        print(f"feedparser alone: {fp_s:.2f} s (median) for {fp_entries} entries ({fp_entries / fp_s:.0f}/s)")

    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0, c0, th0 = time.perf_counter(), time.process_time(), thread_cpu()
    first = await svc.run_cycle()
    t1, main_cpu = time.perf_counter() - t0, time.process_time() - c0
    threads = {name: cpu - th0.get(name, 0.0) for name, cpu in thread_cpu().items()}
    usage = svc.parse_usage  # workers stop when a cycle is over: the service keeps their figures
    workers_cpu, workers_mb, workers_n = usage.cpu_s, usage.peak_rss_mb, usage.started
    if prof is not None:
        prof.disable()
        prof.dump_stats(args.profile)
    async with sessions() as s:
        stored = (await s.execute(select(func.count()).select_from(Article))).scalar() or 0
        stories = (await s.execute(select(func.count()).select_from(Story))).scalar() or 0
        statements = (await s.execute(select(func.count()).select_from(StatementRow))).scalar() or 0
        wire_stories = (
            await s.execute(select(func.count(func.distinct(Article.story_id))).where(Article.guid.like("urn:wire:%")))
        ).scalar()
    wire_feeds = len(range(0, args.feeds, WIRE_EVERY))
    expected = args.feeds * args.items
    print(f"cycle 1: {t1:.2f} s wall, fetched={first.fetched} new={first.new} failed={first.failed} "
          f"stored={stored} (expected {expected}: {'OK' if stored == expected else 'MISMATCH'}), "
          f"stories={stories}, wire copies from {wire_feeds} feeds in {wire_stories} story, statements={statements}")
    print(f"cycle 1 / feedparser alone: {t1 / fp_s:.2f}x")
    print(f"cycle 1 peak RSS: main process {rss_mb():.0f} MB")
    print(f"cycle 1 CPU: main process {main_cpu:.2f} s (fetch, store, statements), {workers_n} parse worker(s) {workers_cpu:.2f} s")
    print("cycle 1 CPU by thread of the main process: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v >= 0.05))
    # The shortest the cycle could be on this machine: all its CPU time spread over every core with
    # no waiting at all. A target below this floor cannot be met by scheduling, only by less work.
    cores = usable_cpus()
    floor = (main_cpu + workers_cpu) / cores
    print(f"cycle 1 CPU floor: {main_cpu + workers_cpu:.2f} CPU-s over {cores} core(s) = {floor:.2f} s, "
          f"{floor / fp_s:.2f}x feedparser alone (the cycle took {t1 / floor:.2f}x its floor)")
    for url, reason in first.failures:
        print(f"  failing: {url.replace(base, '')}: {reason}")

    async with sessions.begin() as s:  # make the healthy feeds due again; failing ones stay backed off
        await s.execute(update(Feed).where(Feed.consecutive_failures == 0).values(next_check_at=func.now()))
    t0, c0 = time.perf_counter(), time.process_time()
    second = await svc.run_cycle()
    t2, main_cpu2 = time.perf_counter() - t0, time.process_time() - c0
    async with sessions() as s:
        stored2 = (await s.execute(select(func.count()).select_from(Article))).scalar() or 0
    print(f"cycle 2: {t2:.2f} s wall, not_modified={second.not_modified} fetched={second.fetched} "
          f"new={second.new} failed={second.failed} stored={stored2}, main CPU {main_cpu2:.2f} s")
    print(f"peak RSS: main process {rss_mb():.0f} MB; largest parse worker {workers_mb:.0f} MB")
    await svc.aclose()
    await engine.dispose()
    parent.send("stop")
    served = parent.recv()
    print(f"farm: {served['hits']} requests, {served['not_modified']} answered 304")
    farm_proc.join(5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--hosts", type=int, default=50, help="virtual publisher hosts the feeds are spread over")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--processes", type=int, default=None, help="parse worker processes (default: per CPU)")
    ap.add_argument(
        "--skip-hooks",
        action="store_true",
        help="replace after_store_many (statement dedup, storing and the alert outbox: issue #5's subsystem) with a no-op, to see ingestion alone",
    )
    ap.add_argument("--quote-every", type=int, default=3, help="every Nth item quotes a tracked figure (0: none)")
    ap.add_argument("--no-baseline", action="store_true", help="skip timing feedparser alone (it also raises this process's peak RSS)")
    ap.add_argument("--profile", default=None, help="write a cProfile of cycle 1 (main process) to this file")
    ap.add_argument("--timeout", type=float, default=10.0, help="fetch timeout (the slow hostile feed waits this long)")
    ap.add_argument("--hostile-last", action="store_true",
                    help="add the hostile feeds after all the others (leased last), not spread among them")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="newsbot-bench-"))
    if args.db == "sqlite":
        asyncio.run(run(args, f"sqlite:///{tmp / 'bench.db'}"))
        return
    from tests.conftest import PgServer

    server = PgServer()
    try:
        url = server.start()
        asyncio.run(run(args, url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
