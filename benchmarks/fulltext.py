"""Full-text pages: throughput across hosts, politeness per host, and extraction quality.

Serves N article pages (all four templates) from the loopback news site on H ports (each port an
origin), queues them as summary-only feed entries in a fresh SQLite archive, and drains the queue
once with the real service: safe fetcher, robots.txt, per-origin limiter, trafilatura in a thread
pool, store + statement extraction. Prints:
- pages/second end to end (target: >= 30 across hosts), and the fastest any single host was hit
  (must stay within its configured rate: 1 request/s, 2 at once, robots.txt included);
- the share of pages whose stored text holds the article's quote and none of its boilerplate
  (target: 100%);
- extraction alone on one core, and with a thread vs a process pool of 2, to show why threads.

    .venv/bin/python benchmarks/fulltext.py [--pages 500] [--hosts 50] [--rate 1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from common import ensure_root_on_path

ensure_root_on_path()

from sqlalchemy import select  # noqa: E402

from bot.archive.articles import ArticleIn, store_article  # noqa: E402
from bot.config import DEFAULT_CONFIG, FullTextLimits, load_config  # noqa: E402
from bot.fulltext.extract import extract_page  # noqa: E402
from bot.fulltext.queue import FullTextService, for_full_text  # noqa: E402
from bot.net.fetch import SafeFetcher  # noqa: E402
from bot.store.db import make_engine, session_factory  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import Article  # noqa: E402
from tests.newssite import BOILERPLATE, NewsSite, make_article, render  # noqa: E402


def max_in_window(times: list[float], window: float) -> int:
    """Most requests that started within any `window` seconds (sliding)."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


def _extract_one(html: str) -> int:
    page = extract_page(html, "http://bench.test/a")
    return len(page.text) if page else 0


def extraction_rate(pages: list[str], executor: Executor | None) -> float:
    start = time.perf_counter()
    if executor is None:
        for p in pages:
            _extract_one(p)
    else:
        list(executor.map(_extract_one, pages, chunksize=8))
    return len(pages) / (time.perf_counter() - start)


async def end_to_end(n_pages: int, n_hosts: int, rate: float, pool: str) -> None:
    site = await NewsSite(hosts=n_hosts).start()
    tmp = Path(tempfile.mkdtemp(prefix="newsbot-fulltext-bench-"))
    engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
    await upgrade(engine)
    sessions = session_factory(engine)
    base = load_config(DEFAULT_CONFIG)
    config = base.model_copy(
        update={"fulltext": FullTextLimits(rate_per_s=rate, per_host_concurrency=2, concurrency=64, batch=n_pages)}
    )
    fetcher = SafeFetcher(
        user_agent=config.ingest.user_agent,
        timeout_s=20,
        max_body_bytes=2_000_000,
        per_host_concurrency=64,  # the fetcher keys hosts by name; every origin here is 127.0.0.1
        allow_private=True,
    )
    arts = [make_article(n) for n in range(n_pages)]
    async with sessions.begin() as s:
        for a in arts:
            item = ArticleIn(text=a.summary, title=a.title, guid=f"bench:{a.n}", url=site.url(a), outlet="Bench Feed", summary_only=True)
            await store_article(s, for_full_text(item, "auto"))
    executor: Executor = ProcessPoolExecutor(2) if pool == "process" else ThreadPoolExecutor(2)
    executor.submit(_extract_one, render(arts[0])).result()  # warm the workers before the clock starts
    service = FullTextService(sessions, config, fetcher=fetcher, executor=executor)
    start = time.monotonic()
    stats = await service.run_pending(n_pages)
    elapsed = time.monotonic() - start
    await service.aclose()
    await fetcher.aclose()
    executor.shutdown()

    good = 0
    async with sessions() as s:
        rows = {r.guid: r for r in (await s.execute(select(Article))).scalars()}
    for a in arts:
        row = rows[f"bench:{a.n}"]
        text = row.text.lower()
        if row.fulltext_status == "fetched" and a.quote in row.text and not any(b.lower() in text for b in BOILERPLATE):
            good += 1
    worst_gap = float("inf")
    worst_window = 0
    worst_inflight = max(site.max_inflight.values(), default=0)
    for port in site.ports:
        times = sorted(h.at for h in site.hits_for(port))
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        if gaps:
            worst_gap = min(worst_gap, min(gaps))
        worst_window = max(worst_window, max_in_window(times, 1.0))
    print(f"pages: {n_pages} on {n_hosts} hosts, rate {rate:g}/s and 2 at once per host, extraction in a {pool} pool")
    print(f"run: {stats.as_dict()}")
    print(
        f"fetched and extracted: {stats.extracted} pages in {stats.fetch_seconds:.1f} s = "
        f"{stats.extracted / stats.fetch_seconds:.1f} pages/s (target >= 30)"
    )
    print(f"end to end incl. archive write + statement extraction: {elapsed:.1f} s, {stats.fetched / elapsed:.1f} pages/s")
    print(f"ceiling set by politeness: {n_hosts * rate:.0f} requests/s across hosts, robots.txt included")
    print(
        f"per host, as the server saw it: closest two requests {worst_gap:.3f} s apart "
        f"(allowed >= {1 / rate:.3f}), most in any 1 s window {worst_window} (allowed {rate:g}), "
        f"most at once {worst_inflight} (allowed 2)"
    )
    print(f"quality: {good}/{n_pages} = {100 * good / n_pages:.1f}% hold the quote and none of the boilerplate (target 100%)")
    await site.stop()
    await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--pool", choices=("thread", "process"), default="thread", help="where extraction runs")
    args = ap.parse_args()

    sample = [render(make_article(n), "http://bench.test") for n in range(200)]
    _extract_one(sample[0])  # imports and warm-up
    print(f"extraction alone, one core: {extraction_rate(sample, None):.0f} pages/s")
    with ThreadPoolExecutor(2) as ex:
        print(f"extraction, thread pool of 2: {extraction_rate(sample, ex):.0f} pages/s")
    with ProcessPoolExecutor(2) as ex:
        ex.submit(_extract_one, sample[0]).result()
        print(f"extraction, process pool of 2: {extraction_rate(sample, ex):.0f} pages/s (pickling pages both ways)")
    asyncio.run(end_to_end(args.pages, args.hosts, args.rate, args.pool))


if __name__ == "__main__":
    main()
