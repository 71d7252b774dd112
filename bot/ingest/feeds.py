"""The feed list: add, remove, list, and mirror config/newsbot.yaml into the feeds table.

Feeds live in the database (the schedule and health are columns of the row); the config file and
OPML are ways in. A config feed that leaves the file is disabled, not deleted, so its history and
health stay visible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import AppConfig
from bot.net.fetch import url_refusal
from bot.store.models import Feed, utcnow
from bot.text.urls import feed_url_ok


class FeedError(ValueError):
    """A feed URL or request that cannot be accepted; the message is one line."""


@dataclass(frozen=True)
class FeedSpec:
    url: str
    title: str | None = None
    topics: tuple[str, ...] = ()
    full_text: str = "auto"


def normalise_feed_url(url: str, allow_private: bool | None = None) -> str:
    """The URL as stored, or FeedError. With `allow_private` (the NEWSBOT_ALLOW_PRIVATE_FEEDS
    setting) given, a URL naming an address the fetcher would refuse is refused here, with the
    reason the fetcher would give; None skips that check (config feeds, refused at fetch time)."""
    url = url.strip()
    if not feed_url_ok(url):
        raise FeedError(f"not an http(s) feed URL: {url[:200]!r}")
    if allow_private is not None:
        reason = url_refusal(url, allow_private)
        if reason:
            raise FeedError(f"{url[:200]}: {reason}")
    return url


async def get_feed(session: AsyncSession, url: str) -> Feed | None:
    return (await session.execute(select(Feed).where(Feed.url == url))).scalar_one_or_none()


async def add_feed(
    session: AsyncSession, spec: FeedSpec, source: str = "cli", *, allow_private: bool | None = None
) -> tuple[Feed, bool]:
    """Add (or re-enable and update) a feed; returns (feed, created). Due at once."""
    url = normalise_feed_url(spec.url, allow_private)
    feed = await get_feed(session, url)
    if feed is None:
        feed = Feed(
            url=url,
            title=spec.title,
            topics=" ".join(sorted(set(spec.topics))),
            full_text=spec.full_text,
            source=source,
            enabled=True,
            next_check_at=utcnow(),
            interval_s=900,
            consecutive_failures=0,
            backfilled=False,
        )
        session.add(feed)
        await session.flush()
        return feed, True
    if not feed.enabled:
        feed.enabled = True
        feed.next_check_at = utcnow()
    if spec.topics:
        feed.topics = " ".join(sorted(set(feed.topics.split()) | set(spec.topics)))
    if spec.title and not feed.title:
        feed.title = spec.title
    return feed, False


async def remove_feed(session: AsyncSession, url: str) -> bool:
    feed = await get_feed(session, url.strip())
    if feed is None:
        return False
    await session.delete(feed)  # articles keep their rows (feed_id SET NULL)
    return True


async def list_feeds(session: AsyncSession, include_disabled: bool = True) -> list[Feed]:
    stmt = select(Feed).order_by(Feed.url)
    if not include_disabled:
        stmt = stmt.where(Feed.enabled.is_(True))
    return list((await session.execute(stmt)).scalars())


async def add_feeds(
    session: AsyncSession, specs: Iterable[FeedSpec], source: str, *, allow_private: bool | None = None
) -> tuple[int, int, list[str]]:
    """Add every acceptable feed; returns (added, already present, one line per refused feed)."""
    added = existing = 0
    refused: list[str] = []
    for spec in specs:
        try:
            _, created = await add_feed(session, spec, source, allow_private=allow_private)
        except FeedError as exc:
            refused.append(str(exc))
            continue
        added += created
        existing += not created
    return added, existing, refused


async def sync_config_feeds(session: AsyncSession, config: AppConfig) -> dict[str, int]:
    """Make the feeds table reflect the config's feed list (the caller commits)."""
    wanted = {f.url.strip(): f for f in config.feeds}
    rows = {f.url: f for f in await list_feeds(session)}
    counts = {"added": 0, "updated": 0, "disabled": 0}
    for url, fc in wanted.items():
        feed = rows.get(url)
        topics = " ".join(sorted(set(fc.topics)))
        if feed is None:
            await add_feed(session, FeedSpec(url, fc.title, tuple(fc.topics), fc.full_text), source="config")
            counts["added"] += 1
            continue
        changed = False
        if feed.source == "config" and (feed.topics != topics or feed.full_text != fc.full_text):
            feed.topics, feed.full_text = topics, fc.full_text
            changed = True
        if fc.title and feed.title != fc.title:
            feed.title = fc.title
            changed = True
        if not feed.enabled and feed.source == "config":
            feed.enabled, feed.next_check_at = True, utcnow()
            changed = True
        counts["updated"] += changed
    for url, feed in rows.items():
        if feed.source == "config" and url not in wanted and feed.enabled:
            feed.enabled = False
            counts["disabled"] += 1
    await session.flush()
    return counts
