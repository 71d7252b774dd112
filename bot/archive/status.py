"""Counts and health figures read from the archive, for `stats`, `/news status` and `/healthz`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Article, Delivery, Feed, Statement

FAILING_AFTER = 3  # consecutive failures before a feed counts as failing


async def archive_stats(session: AsyncSession) -> dict[str, int]:
    async def count(stmt: object) -> int:
        return int((await session.execute(stmt)).scalar() or 0)  # type: ignore[call-overload]

    return {
        "articles": await count(select(func.count()).select_from(Article)),
        "feeds": await count(select(func.count()).select_from(Feed)),
        "feeds_failing": await count(
            select(func.count()).select_from(Feed).where(Feed.consecutive_failures >= FAILING_AFTER)
        ),
        "statements": await count(select(func.count()).select_from(Statement)),
        "alerts_pending": await count(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.kind == "alert", Delivery.status.in_(("pending", "sending", "failed")))
        ),
    }
