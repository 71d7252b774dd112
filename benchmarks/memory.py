"""Resident memory of `newsbot run` with both adapters and 1,000 feeds (target: steady state < 200 MB).

The real command runs against loopback stand-ins: a fake Slack Web API (HTTP mode), a fake
Discord (REST + gateway), and the feed farm serving `--feeds` feeds of `--items` entries. RSS is
sampled from /proc every 0.25 s: during the first full ingest cycle (peak) and then for
`--steady` seconds while the bot idles between cycles and answers its health checks (steady). The
main process and its parse workers are reported apart and together. Figures only.

The ingest interval is the production default (60 s) unless `--every` says otherwise: parse
workers stop after a cycle unless the next one is due within 30 s (`bot/ingest/service.py`), so
a short interval measures a different steady state.

    .venv/bin/python benchmarks/memory.py [--feeds 1000] [--items 20] [--steady 30] [--cpus 1] [--every 60] [--db-url URL]

With `--cpus 1` the bot runs pinned to one CPU, as on the 1-core target box: it then parses in a
thread instead of worker processes (see `bot/ingest/service.py: usable_cpus`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.store.db import make_engine  # noqa: E402
from bot.store.models import Article, Feed  # noqa: E402
from tests.fakes.discord_api import BOT_TOKEN as DISCORD_TOKEN  # noqa: E402
from tests.fakes.discord_api import FakeDiscord  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN as SLACK_TOKEN  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.feedfarm import FarmFeed, FeedFarm, farm_items  # noqa: E402
from tests.reliability.helpers import Bot, bot_env, free_port  # noqa: E402


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for c in (task / "children").read_text().split():
                    out.append(int(c))
                    out.extend(children(int(c)))
    return out


def smaps_split(pid: int) -> str:
    """Where the main process's resident memory is: heap (anonymous) vs code and libraries mapped
    from files (shared with every other Python process on the box, counted in RSS anyway)."""
    anon = file = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Anonymous:"):
                anon = int(line.split()[1])
            elif line.startswith("Rss:"):
                file = int(line.split()[1])
    return f"anonymous (heap) {anon / 1024:6.1f} MB   mapped from files {(file - anon) / 1024:6.1f} MB"


def sample(pid: int) -> tuple[float, float, int]:
    """(main MB, main + children MB, number of children)."""
    kids = children(pid)
    main = rss_kb(pid) / 1024
    return main, main + sum(rss_kb(k) for k in kids) / 1024, len(kids)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="newsbot-mem-") as tmp:
        d = Path(tmp)
        db_url = args.db_url or f"sqlite:///{d}/newsbot.db"
        async with FeedFarm() as farm:
            slack = await FakeSlack().start()
            discord = await FakeDiscord().start()
            try:
                urls = [farm.put(f"m{i}", FarmFeed(title=f"Mem {i}", items=farm_items(f"m{i}", args.items)))
                        for i in range(args.feeds)]
                config = d / "newsbot.yaml"
                config.write_text(yaml.safe_dump({
                    "feeds": [{"url": u, "full_text": "never"} for u in urls],
                    "channels": [
                        {"platform": "slack", "id": "C0MEM", "alerts": {"figures": ["Mark Rutte"]}},
                        {"platform": "discord", "id": "444444444444444444", "alerts": {"figures": ["Mark Rutte"]}},
                    ],
                }))
                env = bot_env(
                    db_url, config, free_port(), NEWSBOT_INGEST_EVERY_S=str(args.every),
                    SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_SIGNING_SECRET="0123456789abcdef0123456789abcdef",
                    NEWSBOT_SLACK_API_URL=slack.api_url, DISCORD_BOT_TOKEN=DISCORD_TOKEN,
                    NEWSBOT_DISCORD_API_URL=discord.api_url, NEWSBOT_DISCORD_GATEWAY_URL=discord.gateway_url,
                )
                prefix = ("taskset", "-c", ",".join(str(i) for i in range(args.cpus))) if args.cpus else ()
                bot = await Bot(env, d / "bot.log", prefix=prefix).start()
                assert bot.proc is not None
                pid = bot.proc.pid
                t0 = time.monotonic()
                body = await bot.wait_healthy(180)
                healthy_s = time.monotonic() - t0
                engine = make_engine(db_url)
                peak_main = peak_total = 0.0
                kids_max = 0
                try:
                    while True:  # the first full cycle
                        m, t, k = sample(pid)
                        peak_main, peak_total, kids_max = max(peak_main, m), max(peak_total, t), max(kids_max, k)
                        async with engine.connect() as c:
                            polled = (await c.execute(select(func.count()).where(Feed.last_checked_at.is_not(None)))).scalar_one()
                        if polled >= args.feeds:
                            break
                        bot.check_alive()
                        if time.monotonic() - t0 > 900:
                            raise SystemExit(f"only {polled} feeds polled in 15 min: {bot.log_tail()}")
                        await asyncio.sleep(0.25)
                    cycle_s = time.monotonic() - t0
                    steady: list[tuple[float, float, float, int]] = []  # (seconds after, main, total, workers)
                    t1 = time.monotonic()
                    while time.monotonic() - t1 < args.steady:
                        m, t, k = sample(pid)
                        steady.append((time.monotonic() - t1, m, t, k))
                        if len(steady) % 8 == 0:
                            await bot.health()
                        await asyncio.sleep(0.25)
                    async with engine.connect() as c:
                        articles = (await c.execute(select(func.count()).select_from(Article))).scalar_one()
                    split = smaps_split(pid)
                finally:
                    await engine.dispose()
                    rc = await bot.stop(60)
            finally:
                await slack.stop()
                await discord.stop()
    steady_main = max(m for _, m, _, _ in steady)
    steady_total = max(t for _, _, t, _ in steady)
    steady_kids = max(k for *_, k in steady)
    # The cycle ends a little after its last feed is stored; its parse workers stop then.
    busy = [i for i, (*_, k) in enumerate(steady) if k]
    after = steady[busy[-1] + 1:] if busy else steady
    cpus = f"pinned to {args.cpus} CPU(s)" if args.cpus else f"{os.cpu_count()} CPUs"
    print(f"adapters: {body.get('adapters')}   feeds: {args.feeds} x {args.items} items   db: {db_url.split(':')[0]}   {cpus}")
    print(f"start-up to healthy            {healthy_s:7.1f} s")
    print(f"first full cycle done after    {cycle_s:7.1f} s   articles stored: {articles}")
    print(f"peak RSS during the cycle      main {peak_main:6.1f} MB   with {kids_max} parse workers {peak_total:6.1f} MB")
    print(f"steady RSS ({args.steady:.0f} s after)         main {steady_main:6.1f} MB   with {steady_kids} parse workers {steady_total:6.1f} MB")
    if steady_kids and after:
        print(f"parse workers stopped          {after[0][0]:7.1f} s after the last feed was stored (the cycle's end)")
        print(f"steady RSS after that          main {max(m for _, m, _, _ in after):6.1f} MB   with parse workers {max(t for _, _, t, _ in after):6.1f} MB")
    elif steady_kids:
        print("parse workers stopped          not within the steady window (kept warm: interval under 30 s)")
    print(f"main process at the end          {split}")
    final = max(t for _, _, t, _ in after) if after else steady_total
    print(f"target: steady state under 200 MB -> {'met' if final < 200 else 'NOT met'} (main + workers, between cycles); exit code {rc}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--steady", type=float, default=30.0)
    ap.add_argument("--db-url", default=None, help="default: a temporary SQLite file")
    ap.add_argument("--every", type=int, default=60, help="NEWSBOT_INGEST_EVERY_S (default: production's 60)")
    ap.add_argument("--cpus", type=int, default=0, help="pin the bot to this many CPUs (1: as on the 1-core target box)")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}   load average at start: {os.getloadavg()[0]:.2f}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
