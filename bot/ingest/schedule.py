"""The database is the schedule: when each feed is due, who holds it, and how long to wait.

Pure policy (intervals, backoff) plus the lease query. Several processes may poll one PostgreSQL
database: each leases a batch of due feeds with `FOR UPDATE SKIP LOCKED`, commits, and fetches
outside the transaction; a lease that outlives its worker simply expires. SQLite has one ingest
process, which leases with a plain UPDATE.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime.backoff import backoff_s
from bot.store.models import Feed

MAX_RETRY_AFTER_S = 24 * 3600  # a publisher's Retry-After is honoured up to a day


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def adaptive_interval(
    previous_s: float,
    published: Sequence[datetime],
    new_count: int,
    min_s: int,
    max_s: int,
) -> int:
    """How long until the next poll, following how often the feed really publishes.

    With dates on recent entries: half the median gap between them (so a new item waits on
    average a quarter of the publisher's own rhythm). Without: shrink after new items, grow after
    a quiet poll. Always within [min_s, max_s].
    """
    times = sorted({t for t in published if t is not None}, reverse=True)[:20]
    if len(times) >= 3:
        gaps = [(a - b).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        gaps = [g for g in gaps if g > 0]
        if gaps:
            return int(clamp(statistics.median(gaps) / 2, min_s, max_s))
    factor = 0.5 if new_count else 1.5
    return int(clamp(previous_s * factor, min_s, max_s))


def failure_wait_s(failures: int, min_s: int, max_s: int, rng: random.Random | None = None) -> float:
    """The wait before a failing feed's next poll."""
    return backoff_s(failures, min_s, max_s, (rng or random).random())


def next_check_after_success(interval_s: int, max_age_s: float | None, max_s: int) -> float:
    """A publisher's Cache-Control max-age is a floor for the next poll (up to max_s)."""
    if max_age_s:
        return max(interval_s, min(max_age_s, max_s))
    return float(interval_s)


def next_check_after_failure(
    failures: int, retry_after_s: float | None, min_s: int, max_s: int, rng: random.Random | None = None
) -> float:
    delay = failure_wait_s(failures, min_s, max_s, rng)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay


def lease_seconds(timeout_s: float) -> int:
    """Long enough to fetch, parse and store one batch; short enough that a crash heals soon."""
    return int(timeout_s * 3 + 120)


async def lease_due_feeds(
    session: AsyncSession,
    *,
    worker_id: str,
    now: datetime,
    limit: int,
    lease_s: int,
    cycle_started: datetime,
    ignore_schedule: bool = False,
    postgres: bool,
) -> list[Feed]:
    """Take up to `limit` due, unleased feeds for this worker; the caller commits at once.

    A feed polled since `cycle_started` is not due again in the same cycle, even with
    `ignore_schedule`. The lease stamp (owner + exact expiry) identifies this batch.
    """
    conds = [
        Feed.enabled.is_(True),
        or_(Feed.lease_until.is_(None), Feed.lease_until < now),
        or_(Feed.last_checked_at.is_(None), Feed.last_checked_at < cycle_started),
    ]
    if not ignore_schedule:
        conds.append(Feed.next_check_at <= now)
    pick = select(Feed.id).where(and_(*conds)).order_by(Feed.next_check_at, Feed.id).limit(limit)
    if postgres:
        pick = pick.with_for_update(skip_locked=True)
    until = now + timedelta(seconds=lease_s)
    ids = list(
        (
            await session.execute(
                update(Feed)
                .where(Feed.id.in_(pick.scalar_subquery()))
                .values(lease_owner=worker_id, lease_until=until)
                .returning(Feed.id)
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    if not ids:
        return []
    rows = await session.execute(select(Feed).where(Feed.id.in_(ids)).execution_options(populate_existing=True))
    return list(rows.scalars())


async def release(session: AsyncSession, feed: Feed) -> None:
    feed.lease_owner = None
    feed.lease_until = None
