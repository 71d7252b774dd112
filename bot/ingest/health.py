"""Feed health for `feeds list`, `/news status` and the health digest: failing feeds are shown, never dropped."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.ingest.feeds import list_feeds
from bot.store.models import Feed


@dataclass(frozen=True)
class FeedHealth:
    url: str
    title: str | None
    state: str  # ok | failing | new | disabled (the vocabulary of bot.archive.status)
    enabled: bool
    consecutive_failures: int
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    last_new_at: datetime | None
    next_check_at: datetime | None
    interval_s: int
    topics: tuple[str, ...]
    source: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, datetime):
                d[k] = v.isoformat()
        d["topics"] = list(self.topics)
        return d


def feed_state(feed: Feed) -> str:
    """The row-level twin of `bot.archive.status.failing_clause`: failing when the last fetch failed."""
    if not feed.enabled:
        return "disabled"
    if feed.consecutive_failures:
        return "failing"
    return "ok" if feed.last_success_at else "new"


def health_of(feed: Feed) -> FeedHealth:
    return FeedHealth(
        url=feed.url,
        title=feed.title,
        state=feed_state(feed),
        enabled=feed.enabled,
        consecutive_failures=feed.consecutive_failures or 0,
        last_error=feed.last_error,
        last_error_at=feed.last_error_at,
        last_success_at=feed.last_success_at,
        last_new_at=feed.last_new_at,
        next_check_at=feed.next_check_at,
        interval_s=feed.interval_s,
        topics=tuple(feed.topics.split()),
        source=feed.source,
    )


async def feed_health(session: AsyncSession, *, failing_only: bool = False) -> list[FeedHealth]:
    """Every feed's health, failing ones first (then by URL)."""
    order = {"failing": 0, "new": 1, "ok": 2, "disabled": 3}
    out = [health_of(f) for f in await list_feeds(session)]
    if failing_only:
        out = [h for h in out if h.state == "failing"]
    return sorted(out, key=lambda h: (order[h.state], h.url))
