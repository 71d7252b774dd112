"""Scale-out: several ingester processes on one PostgreSQL share the feeds, each polled once.

Speed (cycle time dropping as processes are added) is measured by `benchmarks/scaleout.py`; this
test proves the correctness half: every feed requested exactly once, every article stored once,
and the work really shared between the processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import pg_available, run_scaleout

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not pg_available(), reason="no PostgreSQL binaries")]


@pytest.mark.parametrize(
    "n_feeds", [pytest.param(300, id="300-feeds"), pytest.param(2000, id="2000-feeds", marks=pytest.mark.long)]
)
async def test_three_ingesters_poll_every_feed_exactly_once(pg_admin_url: str, tmp_path: Path, n_feeds: int) -> None:
    r = await run_scaleout(pg_admin_url, tmp_path, processes=3, n_feeds=n_feeds, name=f"scaleout_test_{n_feeds}")
    twice = {p: n for p, n in r.hits.items() if n != 1}
    assert not twice, f"feeds not requested exactly once: {list(twice.items())[:5]}"
    assert r.articles == r.items == r.distinct_urls
    assert sum(r.fetched_by_worker.values()) == n_feeds
    busy = [w for w, n in r.fetched_by_worker.items() if n > 0]
    assert len(busy) >= 2, f"one process did all the work: {r.fetched_by_worker}"
