"""`/news status`: archive size, the last ingest cycle, deliveries, failing feeds, paused channels."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.chat.messages import Context, Item, Result, Section
from bot.chat.spark import buckets, sparkline
from bot.commands.common import clip, when
from bot.commands.deps import Deps
from bot.commands.feeds import feed_item
from bot.commands.parser import Command
from bot.store.models import Channel, Delivery, Feed, IngestCycle

CYCLES_SCAN = 5000  # a day of cycles at one every 20 s, with room


def ingest_day(cycles: list[Any], now: datetime) -> str:
    """New articles an hour over the last day as a sparkline: "▁▁▃█▂… 120 new in 24 h" (pure)."""
    new = [int((stats or {}).get("new") or 0) for _started, stats in cycles]
    hours = buckets([started for started, _stats in cycles], now, timedelta(days=1), 24, new)
    return f"{sparkline(hours)} {sum(hours)} new in {len(cycles)} cycles"


async def status_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    from bot.archive.status import archive_stats, failing_clause
    from bot.fulltext.queue import queue_counts

    now = deps.now()
    async with deps.sessions() as s:
        counts = await archive_stats(s)
        failing = list(
            (
                await s.execute(
                    select(Feed).where(failing_clause())
                    .order_by(Feed.consecutive_failures.desc()).limit(5)
                )
            ).scalars()
        )
        cycle = (await s.execute(select(IngestCycle).order_by(IngestCycle.id.desc()).limit(1))).scalar_one_or_none()
        by_status = dict(
            (await s.execute(select(Delivery.status, func.count()).group_by(Delivery.status))).all()
        )
        dead = (
            await s.execute(
                select(Delivery, Channel).join(Channel, Channel.id == Delivery.channel_id)
                .where(Delivery.status == "dead").order_by(Delivery.id.desc()).limit(3)
            )
        ).all()
        paused = list((await s.execute(select(Channel).where(Channel.paused.is_(True)).limit(5))).scalars())
        day = list((await s.execute(
            select(IngestCycle.started_at, IngestCycle.stats).where(IngestCycle.started_at > now - timedelta(days=1))
            .order_by(IngestCycle.id.desc()).limit(CYCLES_SCAN)
        )).all())
        pages = await queue_counts(s)
    archive = Item(
        title="Archive",
        fields=(("articles", str(counts["articles"])), ("statements", str(counts["statements"])),
                ("feeds", f"{counts['feeds']} ({counts['feeds_failing']} failing, {counts['feeds_in_backoff']} in backoff,"
                          f" {counts['feeds_disabled']} disabled)")),
    )
    if cycle is None:
        cycle_item = Item(title="Last ingest cycle", body="none yet")
    else:
        stats = cycle.stats or {}
        cycle_item = Item(
            title="Last ingest cycle",
            meta=f"started {when(cycle.started_at)}" + (f", finished {when(cycle.finished_at)}" if cycle.finished_at else ", running"),
            fields=(*((str(k), str(v)) for k, v in list(stats.items())[:8] if not isinstance(v, dict | list)),
                    ("last 24 h", ingest_day(day, now))),
        )
    pending = sum(int(by_status.get(k, 0)) for k in ("pending", "sending", "failed"))
    deliveries = Item(
        title="Deliveries",
        fields=(("pending", str(pending)), ("retrying", str(int(by_status.get("failed", 0)))),
                ("sent", str(int(by_status.get("sent", 0)))), ("dead", str(int(by_status.get("dead", 0))))),
    )
    fulltext = Item(title="Full-text pages", fields=tuple((k.replace("_", " "), str(v)) for k, v in pages.items()))
    sections = [Section(items=(archive, cycle_item, deliveries, fulltext))]
    if failing:
        sections.append(Section(heading="Failing feeds", items=tuple(feed_item(f, now) for f in failing)))
    if dead:
        sections.append(
            Section(heading="Undeliverable", items=tuple(
                Item(title=f"{d.kind} to {c.platform}:{c.external_id}", meta=when(d.created_at),
                     body=clip(d.last_error or "", 200) or None)
                for d, c in dead
            ))
        )
    if paused:
        sections.append(Section(heading="Paused channels", items=tuple(
            Item(title=f"{c.platform}:{c.name or c.external_id}", body=clip(c.paused_reason or "", 200) or None)
            for c in paused
        )))
    if deps.runtime_status is not None:
        rt = deps.runtime_status()
        sections.append(Section(heading="Bot", items=(Item(title="Running", fields=tuple(rt.items())),)))
    ok = not failing and not dead and not paused
    return Result(kind="status", title="Status" + ("" if ok else " (needs attention)"), sections=tuple(sections))
