"""Streams benchmark: what following feeds and topics costs an ingest write, and what a filter costs.

    .venv/bin/python benchmarks/streams.py                 # 2,000 articles, 0 and 50 stream subscriptions
    .venv/bin/python benchmarks/streams.py --articles 5000 --subs 200

1. Filters alone (pure): `bot.text.filters.check` per article on feed-like text (title plus ~120
   words), for include/exclude words, a typical pattern, and the catastrophic `(a+)+$` on hostile
   text, which the time limit bounds.
2. An ingest write on SQLite: `store_articles` + `after_store_many` for batches of 50 new articles,
   with no stream subscription and with `--subs` of them (feeds and topics, a third with filters),
   so the difference is what streams add to a write (outbox rows included).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Latency, rss_mb  # noqa: E402
from bot.archive.articles import ArticleIn, store_articles  # noqa: E402
from bot.archive.hooks import after_store_many  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.store.db import make_engine, session_factory  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import Channel, Delivery, Feed, Subscription  # noqa: E402
from bot.text.filters import check  # noqa: E402
from tests.feedfarm import prose  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BATCH = 50
TOPICS = ("nato", "ukraine", "trump")


def texts(n: int) -> list[str]:
    return [f"Headline {i}\n{prose(f'bench{i}', 120)}" for i in range(n)]


def time_filter(samples: list[str], include: str | None, exclude: str | None, match: str | None) -> Latency:
    took = []
    for text in samples:
        t0 = time.perf_counter()
        check(text, include, exclude, match)
        took.append(time.perf_counter() - t0)
    return Latency.of(took)


async def ingest(n: int, subs: int, feeds: int = 20) -> tuple[Latency, int]:
    rng = random.Random(subs)
    config = load_config(ROOT / "config" / "newsbot.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        try:
            await upgrade(engine)
            sessions = session_factory(engine)
            async with sessions.begin() as s:
                feed_rows = [Feed(url=f"https://bench{i}.example/rss", title=f"Outlet {i}") for i in range(feeds)]
                s.add_all(feed_rows)
                await s.flush()
                for i in range(subs):
                    ch = Channel(platform="slack", external_id=f"C{i:05d}")
                    s.add(ch)
                    await s.flush()
                    kind = "feed" if i % 2 else "topic"
                    value = str(feed_rows[i % feeds].id) if kind == "feed" else TOPICS[i % len(TOPICS)]
                    filt = i % 3 == 0
                    s.add(Subscription(channel_id=ch.id, kind=kind, value=value, alerts=False, stream=True,
                                       include_words="alliance,summit" if filt else None,
                                       exclude_words="tariff" if filt else None,
                                       match=r"cease-?fire|brigade" if filt else None))
                feed_ids = [f.id for f in feed_rows]
            took = []
            for start in range(0, n, BATCH):
                items = [
                    ArticleIn(text=prose(f"art{subs}-{i}", 120), title=f"Story {i}", guid=f"b:{subs}:{i}",
                              url=f"https://bench.example/{subs}/{i}", outlet=f"Outlet {i % feeds}",
                              feed_id=rng.choice(feed_ids), topics=(rng.choice(TOPICS),))
                    for i in range(start, min(n, start + BATCH))
                ]
                t0 = time.perf_counter()
                async with sessions.begin() as s:
                    stored = await store_articles(s, items, stories=True)
                    await after_store_many(s, [(x, True) for x in stored], config)
                took.append(time.perf_counter() - t0)
            async with sessions() as s:
                from sqlalchemy import func, select

                rows = int((await s.execute(select(func.count()).select_from(Delivery))).scalar() or 0)
            return Latency.of(took), rows
        finally:
            await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--subs", type=int, default=50)
    args = ap.parse_args()

    samples = texts(args.articles)
    print(f"filters, per article ({len(samples)} articles of ~120 words):")
    print(f"  include+exclude words   {time_filter(samples, 'alliance,peace talks', 'tariff', None).row()}")
    print(f"  match:/cease-?fire/     {time_filter(samples, None, None, r'cease-?fire|brigade').row()}")
    hostile = ["a" * 3000 + "!"] * 20
    print(f"  match:/(a+)+$/ hostile  {time_filter(hostile, None, None, '(a+)+$').row()}  (time limit 20 ms)")

    for subs in (0, args.subs):
        lat, rows = asyncio.run(ingest(args.articles, subs))
        print(f"ingest write of {BATCH} new articles, {subs:>3} stream subscriptions (SQLite): {lat.row()}  "
              f"outbox rows {rows}")
    print(f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
