"""Full-text pages: how long the queue's write transactions stay open while pages are stored.

Queues N summary-only entries in a fresh SQLite archive (as `benchmarks/fulltext.py` does), drains
the queue once with the real service against the loopback news site, and times every transaction
that wrote (from BEGIN to COMMIT, by the engine's own events): on SQLite each holds the one
writer's lock, on PostgreSQL its backend is "idle in transaction" whenever Python works inside.
Prints the count, total and longest, and the store phase's wall time.

    .venv/bin/python benchmarks/fulltext_txn.py [--pages 200] [--hosts 50]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ensure_root_on_path

ensure_root_on_path()

from sqlalchemy import event  # noqa: E402

from bot.archive.articles import ArticleIn, store_article  # noqa: E402
from bot.config import DEFAULT_CONFIG, FullTextLimits, load_config  # noqa: E402
from bot.fulltext.queue import FullTextService, for_full_text  # noqa: E402
from bot.net.fetch import SafeFetcher  # noqa: E402
from bot.store.db import make_engine, session_factory  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from tests.newssite import NewsSite, make_article  # noqa: E402


async def run(n_pages: int, n_hosts: int) -> None:
    site = await NewsSite(hosts=n_hosts).start()
    engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp(prefix='newsbot-fttxn-')) / 'bench.db'}")
    await upgrade(engine)
    sessions = session_factory(engine)
    config = load_config(DEFAULT_CONFIG)
    config = config.model_copy(update={"fulltext": FullTextLimits(rate_per_s=50, per_host_concurrency=2, concurrency=64, batch=n_pages)})
    fetcher = SafeFetcher(user_agent=config.ingest.user_agent, timeout_s=20, max_body_bytes=2_000_000, per_host_concurrency=64, allow_private=True)
    async with sessions.begin() as s:
        for a in (make_article(n) for n in range(n_pages)):
            item = ArticleIn(text=a.summary, title=a.title, guid=f"bench:{a.n}", url=site.url(a), outlet="Bench Feed", summary_only=True)
            await store_article(s, for_full_text(item, "auto"))
    begun: dict[int, float] = {}
    wrote: set[int] = set()
    spans: list[float] = []

    def on_begin(conn: Any) -> None:
        begun[id(conn)] = time.perf_counter()

    def on_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            wrote.add(id(conn))

    def on_end(conn: Any) -> None:
        at = begun.pop(id(conn), None)
        if at is not None and id(conn) in wrote:
            spans.append(time.perf_counter() - at)
        wrote.discard(id(conn))

    sync = engine.sync_engine
    event.listen(sync, "begin", on_begin)
    event.listen(sync, "before_cursor_execute", on_execute)
    event.listen(sync, "commit", on_end)
    event.listen(sync, "rollback", on_end)
    service = FullTextService(sessions, config, fetcher=fetcher)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    stats = await service.run_pending(n_pages)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    await service.aclose()
    await fetcher.aclose()
    cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    store = [s for s in spans if s > 0]
    print(f"pages: {n_pages} on {n_hosts} hosts; fetched {stats.fetched}, statements {stats.statements}, failed {stats.failed}")
    print(f"writing transactions: {len(store)}, open {sum(store):.3f} s in all, longest {max(store, default=0):.3f} s")
    print(f"store phase (after the last page was extracted): {stats.seconds - stats.fetch_seconds:.2f} s; process CPU for the run {cpu:.2f} s")
    await site.stop()
    await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--hosts", type=int, default=50)
    args = ap.parse_args()
    asyncio.run(run(args.pages, args.hosts))


if __name__ == "__main__":
    main()
