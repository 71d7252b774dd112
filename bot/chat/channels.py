"""Channels and their subscriptions: from the config file at start-up, and from `/news subscribe`.

Config subscriptions are re-synced on every start (origin "config"), chat ones are left alone, so
editing the YAML never erases what a newsroom set up in chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import AppConfig
from bot.store.models import Channel, Subscription


@dataclass(frozen=True)
class Interest:
    """One subscription as plain data."""

    kind: str  # figure | topic | keyword
    value: str
    alerts: bool = True
    digest: bool = False
    digest_cron: str | None = None
    timezone: str | None = None


async def get_or_create_channel(session: AsyncSession, platform: str, external_id: str, name: str | None = None) -> Channel:
    found = (
        await session.execute(select(Channel).where(Channel.platform == platform, Channel.external_id == external_id))
    ).scalar_one_or_none()
    if found is not None:
        if name and found.name != name:
            found.name = name
        return found
    channel = Channel(platform=platform, external_id=external_id, name=name)
    session.add(channel)
    await session.flush()
    return channel


def config_interests(config: AppConfig, platform: str, external_id: str) -> list[Interest]:
    out: dict[tuple[str, str], Interest] = {}
    for ch in config.channels:
        if ch.platform != platform or ch.id != external_id:
            continue
        if ch.alerts:
            for f in ch.alerts.figures:
                out[("figure", f)] = Interest("figure", f, alerts=True)
            for t in ch.alerts.topics:
                out[("topic", t)] = Interest("topic", t, alerts=True)
        if ch.digest:
            for t in ch.digest.topics:
                prev = out.get(("topic", t))
                out[("topic", t)] = Interest(
                    "topic", t, alerts=bool(prev and prev.alerts), digest=True,
                    digest_cron=ch.digest.cron, timezone=ch.digest.timezone,
                )
    return list(out.values())


async def set_interest(session: AsyncSession, channel: Channel, interest: Interest, origin: str = "chat") -> Subscription:
    """Insert or update one subscription (the (channel, kind, value) triple is unique)."""
    sub = (
        await session.execute(
            select(Subscription).where(
                Subscription.channel_id == channel.id,
                Subscription.kind == interest.kind,
                Subscription.value == interest.value,
            )
        )
    ).scalar_one_or_none()
    if sub is None:
        sub = Subscription(channel_id=channel.id, kind=interest.kind, value=interest.value, origin=origin)
        session.add(sub)
    sub.alerts = interest.alerts
    sub.digest = interest.digest
    sub.digest_cron = interest.digest_cron
    sub.timezone = interest.timezone
    await session.flush()
    return sub


async def sync_config_channels(session: AsyncSession, config: AppConfig) -> int:
    """Make the database's config subscriptions match the YAML; returns how many channels it names."""
    for ch in config.channels:
        channel = await get_or_create_channel(session, ch.platform, ch.id)
        wanted = config_interests(config, ch.platform, ch.id)
        keep = {(i.kind, i.value) for i in wanted}
        existing = (
            await session.execute(
                select(Subscription).where(Subscription.channel_id == channel.id, Subscription.origin == "config")
            )
        ).scalars()
        for sub in existing:
            if (sub.kind, sub.value) not in keep:
                await session.execute(delete(Subscription).where(Subscription.id == sub.id))
        for interest in wanted:
            await set_interest(session, channel, interest, origin="config")
    return len(config.channels)


async def apply_config(sessions: async_sessionmaker[AsyncSession], config: AppConfig) -> int:
    """The YAML is the one source of truth for config channels: every command that writes or
    alerts (`db upgrade`, `seed`, `ingest`, `feeds …`, `run` in every role) calls this first, so an
    alert is never decided against a copy only an earlier `run` made. Idempotent."""
    async with sessions.begin() as s:
        return await sync_config_channels(s, config)
