"""`/news feeds`: the feeds and their health; admins add and remove them."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select

from bot.chat.messages import Context, Item, Result, Section
from bot.commands.common import clip, page_of, when
from bot.commands.deps import Deps
from bot.commands.parser import Command, usage_for
from bot.config import FeedConfig
from bot.ingest.feeds import FeedError, FeedSpec, add_feed
from bot.store.models import Feed


def feed_state(feed: Feed, now: datetime) -> str:
    if not feed.enabled:
        return "disabled"
    if feed.consecutive_failures:
        return f"failing ({feed.consecutive_failures}×)"
    if feed.last_success_at is None:
        return "not polled yet"
    return "ok"


def feed_item(feed: Feed, now: datetime) -> Item:
    fields: list[tuple[str, str]] = [("state", feed_state(feed, now))]
    if feed.last_success_at:
        fields.append(("last success", when(feed.last_success_at) or ""))
    if feed.last_error and feed.consecutive_failures:
        fields.append(("error", clip(feed.last_error, 200)))
    meta = " · ".join(p for p in (f"#{feed.id}", feed.topics or None, feed.source) if p)
    return Item(title=feed.title or feed.url, url=feed.url, meta=meta, fields=tuple(fields))


def _valid_feed_url(url: str) -> str | None:
    try:
        FeedConfig(url=url)
    except ValueError as exc:
        return clip(str(exc).splitlines()[-1], 120)
    if len(url) > 2048:
        return "URL too long"
    return None


async def feeds_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    action = cmd.args[0].lower() if cmd.args else "list"
    now = deps.now()
    if action in ("add", "remove", "rm", "delete", "del"):
        if not ctx.is_admin:
            return Result(kind="feeds", ok=False, title="Admins only", text="Only admins can add or remove feeds.")
        if len(cmd.args) < 2:
            return usage_for("feeds", f"feeds {action} needs a URL").to_result()
        ref = cmd.args[1]
        if action == "add":
            return await _add_feed(ref, cmd, deps, now)
        return await _remove_feed(ref, deps)
    if action != "list":
        return usage_for("feeds", f"unknown action '{clip(action, 30)}'").to_result()
    size = deps.page_size * 2
    offset = (cmd.page - 1) * size
    async with deps.sessions() as s:
        total = int((await s.execute(select(func.count()).select_from(Feed))).scalar() or 0)
        feeds = list((await s.execute(select(Feed).order_by(Feed.id).limit(size + 1).offset(offset))).scalars())
    if not feeds:
        return Result(kind="feeds", title="Feeds", text="No feeds." if offset == 0 else "No more feeds.")
    return Result(
        kind="feeds", title=f"Feeds ({total})",
        sections=(Section(items=tuple(feed_item(f, now) for f in feeds[:size])),),
        page=page_of(cmd, min(len(feeds), size), size, len(feeds) > size),
    )


async def _add_feed(url: str, cmd: Command, deps: Deps, now: datetime) -> Result:
    problem = _valid_feed_url(url)
    if problem:
        return usage_for("feeds", f"not a feed URL: {problem}").to_result()
    topics = tuple(sorted({t.lower() for t in re.split(r"[\s,]+", cmd.options.get("topic", "")) if t}))
    full_text = cmd.options.get("full_text", "auto").lower()
    if full_text not in ("auto", "always", "never"):
        return usage_for("feeds", "full_text: is auto, always or never").to_result()
    async with deps.sessions.begin() as s:
        existing = (await s.execute(select(Feed).where(Feed.url == url))).scalar_one_or_none()
        if existing is not None and existing.enabled:
            return Result(kind="feeds", ok=False, title="Already there", text=f"#{existing.id} {url} is already in the list.")
        try:
            feed, _created = await add_feed(
                s, FeedSpec(url=url, topics=topics, full_text=full_text), source="chat",
                allow_private=deps.allow_private_feeds,
            )
        except FeedError as exc:
            return usage_for("feeds", str(exc)).to_result()
        fid = feed.id
    return Result(kind="feeds", title="Feed added", ephemeral=False, text=f"#{fid} {url}: polled at the next cycle.")


MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds on either backend


def feed_id(ref: str) -> int | None:
    """The feed id a reference like "12" or "#12" names (None for a URL); an id out of any
    column's range names no feed (0), never an overflow in the database driver."""
    digits = ref.strip().lstrip("#")
    if not (digits.isascii() and digits.isdigit()):
        return None
    n = int(digits) if len(digits) <= 12 else 0
    return n if 0 < n <= MAX_ID else 0


async def _remove_feed(ref: str, deps: Deps) -> Result:
    fid = feed_id(ref)
    if fid == 0:
        return usage_for("feeds", f"a feed id is a number from 1 to {MAX_ID}").to_result()
    async with deps.sessions.begin() as s:
        cond = Feed.id == fid if fid is not None else Feed.url == ref
        feed = (await s.execute(select(Feed).where(cond))).scalar_one_or_none()
        if feed is None:
            return Result(kind="feeds", ok=False, title="No such feed", text=f"No feed {clip(ref, 100)}.")
        url, source = feed.url, feed.source
        await s.delete(feed)  # articles keep their rows (feed_id SET NULL)
    note = " It is in the config file: remove it there too or it returns at the next start." if source == "config" else ""
    return Result(kind="feeds", title="Feed removed", ephemeral=False, text=f"{url} removed; its articles stay.{note}")
