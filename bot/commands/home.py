"""`/news home`: the bot's state at a glance, what Slack's App Home tab shows.

The channels on this platform the bot posts to with their subscriptions, the tracked figures (the
config's and those tracked from chat) and the feeds' health: everything a newsroom would otherwise
have to type several commands to see.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.archive.status import failing_clause, feed_counts
from bot.chat.messages import Context, Item, Result, Section
from bot.commands.common import clip
from bot.commands.deps import Deps
from bot.commands.feeds import feed_item
from bot.commands.parser import Command
from bot.commands.subscribe import describe_sub, feed_labels
from bot.store.models import Channel, Feed, Subscription

CHANNELS_SHOWN = 20
FIGURES_SHOWN = 40


async def home_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    now = deps.now()
    async with deps.sessions() as s:
        rows = list((await s.execute(
            select(Channel, Subscription).join(Subscription, Subscription.channel_id == Channel.id)
            .where(Channel.platform == ctx.platform).order_by(Channel.id, Subscription.id)
        )).all())
        feeds = await feed_labels(s, [sub for _c, sub in rows])
        counts = await feed_counts(s, now)
        total, failing_n = counts.feeds, counts.feeds_failing
        failing = list((await s.execute(
            select(Feed).where(failing_clause())
            .order_by(Feed.consecutive_failures.desc()).limit(5)
        )).scalars())
    by_channel: dict[int, tuple[Channel, list[str]]] = {}
    for channel, sub in rows:
        by_channel.setdefault(channel.id, (channel, []))[1].append(describe_sub(sub, feeds))
    channel_items = tuple(
        Item(title=f"#{channel.name}" if channel.name else channel.external_id,
             meta="paused: " + clip(channel.paused_reason or "", 100) if channel.paused else None,
             body="\n".join(f"• {line}" for line in lines))
        for channel, lines in list(by_channel.values())[:CHANNELS_SHOWN]
    )
    configured = {f.name for f in deps.config.figure_list()}
    names = [f.name + ("" if f.name in configured else " (tracked from chat)") for f in deps.figures.figures]
    shown = ", ".join(names[:FIGURES_SHOWN]) + (f" and {len(names) - FIGURES_SHOWN} more" if len(names) > FIGURES_SHOWN else "")
    sections = [
        Section(heading="Channels", items=channel_items,
                text=None if channel_items else "No channel subscribes yet: `/news subscribe` in a channel."),
        Section(heading="Tracked figures", text=shown or "None: `/news track NAME` (admins)."),
        Section(heading="Feeds", text=f"{total} feeds, {failing_n} failing",
                items=tuple(feed_item(f, now) for f in failing)),
    ]
    return Result(kind="home", title="newsbot", sections=tuple(sections),
                  footer="Type /news help for every command.")
