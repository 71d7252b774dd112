"""Counts and health figures read from the archive, for `stats`, `/news status`, `/metrics` and
`/healthz`: one vocabulary, one query, so they never contradict each other.

A feed is *failing* when it is enabled and its last fetch failed; it is *in backoff* when it is
failing and not due again yet; *disabled* feeds (left the config file) are counted apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Article, Delivery, Feed, StatementRow, utcnow


def failing_clause() -> ColumnElement[bool]:
    """SQL for "this feed is failing": enabled, and its last fetch failed."""
    return and_(Feed.enabled.is_(True), Feed.consecutive_failures > 0)


@dataclass(frozen=True)
class FeedCounts:
    feeds: int
    feeds_failing: int
    feeds_in_backoff: int
    feeds_disabled: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def feed_counts(session: AsyncSession, now: datetime | None = None) -> FeedCounts:
    """Every feed-health count in one query."""
    now = now or utcnow()
    failing = failing_clause()

    def tally(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = (await session.execute(select(
        func.count(),
        tally(failing),
        tally(and_(failing, Feed.next_check_at > now)),
        tally(Feed.enabled.is_(False)),
    ).select_from(Feed))).one()
    return FeedCounts(*(int(v or 0) for v in row))


async def archive_stats(session: AsyncSession) -> dict[str, int]:
    async def count(stmt: object) -> int:
        return int((await session.execute(stmt)).scalar() or 0)  # type: ignore[call-overload]

    feeds = await feed_counts(session)
    return {
        "articles": await count(select(func.count()).select_from(Article)),
        **feeds.as_dict(),
        "statements": await count(select(func.count()).select_from(StatementRow)),
        "alerts_pending": await count(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.kind == "alert", Delivery.status.in_(("pending", "sending", "failed")))
        ),
    }
