"""Scale-out: ingest throughput of 1, 2 (and 3) `newsbot run --role ingester` processes on one PostgreSQL.

Each run starts the ingesters on a fresh database, imports `--feeds` loopback feeds at once and
times until every feed has been polled; the farm's request counts show each feed was fetched
exactly once. Target on a 2-core machine: two processes at least 1.7x the throughput of one.
Figures only. The PostgreSQL server is a throwaway one (initdb) unless --pg-url is given.

    .venv/bin/python benchmarks/scaleout.py [--feeds 1000] [--items 20] [--processes 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.helpers import RestartablePg, run_scaleout  # noqa: E402


async def run(args: argparse.Namespace) -> None:
    pg = None
    admin = args.pg_url
    if not admin:
        pg = RestartablePg()
        admin = await asyncio.to_thread(pg.start)
    try:
        with tempfile.TemporaryDirectory(prefix="newsbot-scale-") as tmp:
            base = None
            print(f"{'processes':>9} {'feeds':>6} {'seconds':>8} {'feeds/s':>8} {'speed-up':>8}  exactly-once  work split")
            for n in [int(x) for x in args.processes.split(",")]:
                r = await run_scaleout(admin, Path(tmp) / f"p{n}", n, args.feeds, args.items, name=f"bench_scale_{n}")
                rate = r.feeds / r.seconds
                base = base or rate
                once = all(v == 1 for v in r.hits.values()) and r.articles == r.items == r.distinct_urls
                split = "/".join(str(v) for v in sorted(r.fetched_by_worker.values(), reverse=True))
                print(f"{n:>9} {r.feeds:>6} {r.seconds:>8.1f} {rate:>8.1f} {rate / base:>7.2f}x  {'yes' if once else 'NO':<12}  {split}")
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.destroy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--processes", default="1,2,3")
    ap.add_argument("--pg-url", default=None, help="an admin URL of an existing server (default: a throwaway one)")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}   load average at start: {os.getloadavg()[0]:.2f}   (PostgreSQL runs on the same cores)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
