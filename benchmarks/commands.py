"""Command-core benchmark: `/news` subcommands through `bot.commands.core.handle()` on a big archive.

    .venv/bin/python benchmarks/commands.py                       # 100k articles (SQLite)
    .venv/bin/python benchmarks/commands.py --articles 1000000

The archive is the search benchmark's synthetic one (`benchmarks/search.py`: built, or reused from
benchmarks/out/ when already built there, then copied), plus synthetic statements by the tracked
figures (about one statement per two articles, each carried by 1-4 articles), stories grouping
articles, a few failing feeds and outbox rows, so quotes, figure, digest and status read realistic
volumes. Each command runs once untimed (warm cache), then `--rounds` times timed; figures are
p50/p99 per subcommand and over the whole mix. Target: p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import OUT, Latency, rss_mb  # noqa: E402
from bot.chat.messages import Context  # noqa: E402
from bot.commands.core import handle  # noqa: E402
from bot.commands.handlers import Deps  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.store.db import make_engine, session_factory  # noqa: E402
from bot.store.models import sqlite_time  # noqa: E402

SEED = 7
MIX = [
    "search nato summit",
    "search ukraine topic:ukraine since:7d",
    'search "white house" since:30d',
    "quotes rutte",
    "quotes trump since:7d",
    "quotes the nato chief topic:nato page:2",
    "quotes zelenskyy kind:direct",
    "figure putin",
    "figure zelensky",
    "digest nato",
    "digest since:24h",
    "status",
    "feeds",
    "help",
    "quotes zelenksy",
]


def archive(n: int, rebuild: bool) -> Path:
    """The search benchmark's archive (built or reused), copied and given statements."""
    from benchmarks import search as sb

    target = OUT / f"commands-{n}-sqlite.db"
    meta = target.with_name(target.name + ".meta.json")
    if target.exists() and meta.exists() and not rebuild and json.loads(meta.read_text()).get("articles") == n:
        return target
    source = OUT / f"search-{n}-sqlite.db"
    if rebuild or sb._read_meta(source, n) is None:
        print(f"building the {n:,}-article archive (benchmarks/search.py's builder)", flush=True)
        sb.build_sqlite(source, n, min(20_000, n))
    print(f"copying {source.name} → {target.name}", flush=True)
    con = sqlite3.connect(source)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copy(source, target)
    asyncio.run(_migrate(f"sqlite:///{target}"))  # the cached archive may predate newer migrations
    add_statements(target, n)
    meta.write_text(json.dumps({"articles": n}))
    return target


async def _migrate(url: str) -> None:
    from bot.store.migrate import upgrade

    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def add_statements(path: Path, n: int) -> None:
    figures = [f.name for f in load_config().figure_list()]
    weights = [30 if name in ("Donald Trump", "Volodymyr Zelensky", "Vladimir Putin", "Mark Rutte") else 3
               for name in figures]
    rng = random.Random(SEED)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    max_id, = con.execute("SELECT max(id) FROM articles").fetchone()
    rows = con.execute("SELECT id, published_at, first_seen_at FROM articles ORDER BY id").fetchall()
    # stories: runs of 1-5 consecutive articles
    stories, members = [], []
    i = 0
    sid = 0
    while i < len(rows):
        k = rng.choice((1, 1, 1, 2, 3, 5))
        sid += 1
        stories.append((sid, f"Story {sid}", k, rows[i][2], rows[i][2]))
        members += [(sid, rows[j][0]) for j in range(i, min(i + k, len(rows)))]
        i += k
    with con:
        con.executemany("INSERT INTO stories (id, title, article_count, created_at, updated_at) VALUES (?,?,?,?,?)", stories)
        con.executemany("UPDATE articles SET story_id = ? WHERE id = ?", members)
    statements, sources = [], []
    st_id = 0
    for aid, published, seen in rows:
        if rng.random() > 0.5:
            continue
        st_id += 1
        speaker = rng.choices(figures, weights)[0]
        text = f"statement {st_id} about the alliance and the war, said {speaker.split()[-1]}"
        kind = rng.choice(("direct", "direct", "reported"))
        carried = [aid] + [min(max_id, aid + rng.randint(1, 50)) for _ in range(rng.randint(0, 3))]
        carried = sorted(set(carried))
        statements.append((st_id, f"fp{st_id}", speaker, 1, kind, text, text.lower(), aid, published or seen,
                           published or seen, len(carried), len(carried)))
        for a in carried:
            sources.append((st_id, a, kind, text, 0, len(text), "said", published or seen))
    with con:
        con.executemany(
            "INSERT INTO statements (id, fingerprint, speaker, figure, kind, text, normalised, first_article_id,"
            " first_seen_at, said_at, outlets, sources) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", statements)
        con.executemany(
            "INSERT INTO statement_sources (statement_id, article_id, kind, text, start, \"end\", cue, seen_at)"
            " VALUES (?,?,?,?,?,?,?,?)", sources)
        now = sqlite_time(datetime.now(UTC))
        for f in range(200):
            con.execute(
                "INSERT INTO feeds (url, topics, full_text, source, enabled, next_check_at, interval_s,"
                " consecutive_failures, last_error, backfilled, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (f"https://feed{f}.example/rss", "nato", "auto", "config", 1, now, 900, 5 if f % 20 == 0 else 0,
                 "HTTP 503" if f % 20 == 0 else None, 1, now))
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"  {len(statements):,} statements, {len(sources):,} sources, {len(stories):,} stories "
          f"in {time.perf_counter() - t0:,.0f} s", flush=True)


async def run(path: Path, rounds: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    config = load_config()
    now_row = sqlite3.connect(path).execute("SELECT max(published_at) FROM articles").fetchone()[0]
    end = datetime.fromisoformat(now_row).replace(tzinfo=UTC) if now_row else datetime.now(UTC)
    deps = Deps.build(session_factory(engine), config, now=lambda: end + timedelta(minutes=1))
    ctx = Context(platform="console", channel_id="bench", is_admin=False)
    per: dict[str, list[float]] = {c: [] for c in MIX}
    try:
        for cmd in MIX:  # warm-up, and a check that every command answers
            r = await handle(cmd, ctx, deps)
            assert r.kind != "error", (cmd, r.text)
        for _ in range(rounds):
            for cmd in MIX:
                t0 = time.perf_counter()
                await handle(cmd, ctx, deps)
                per[cmd].append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    print(f"\ncommand core, SQLite, {rounds} rounds (warm cache):")
    for cmd, times in per.items():
        print(f"  {cmd:42} {Latency.of(times).row()}")
    everything = [t for times in per.values() for t in times]
    print(f"  {'ALL':42} {Latency.of(everything).row()}")
    print(f"peak RSS {rss_mb():,.0f} MB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=30, help="timed runs of the whole mix")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args(argv)
    path = archive(args.articles, args.rebuild)
    asyncio.run(run(path, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
