"""`/news digest`: top stories and statements since a time, for some or all topics.

Asked for and empty, it says what to try instead of only "No new stories": the newest article's
date and a `since:` that reaches it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.chat.digests import build_digest, is_empty
from bot.chat.messages import Context, Result
from bot.commands.common import clip
from bot.commands.deps import Deps
from bot.commands.parser import Command, usage_for
from bot.store.models import Article
from bot.store.search.query import parse_time

REACH_DAYS = (2, 7, 30, 90, 365)


def reach(newest: datetime, now: datetime) -> str:
    """The shortest `since:` that includes an article published at `newest` (pure)."""
    days = (now - newest).days + 1
    return next((f"{d}d" for d in REACH_DAYS if d >= days), f"{newest:%Y-%m-%d}")


def empty_hint(window: str, newest: datetime | None, now: datetime, topics: list[str]) -> str:
    """"No new stories in 24h; the newest is from 2025-06-24: `/news digest since:30d`" (pure)."""
    if newest is None:
        return f"No new stories in {window}, and the archive has none yet: add a feed with `/news feeds add URL`."
    asked = " ".join(topics)
    command = f"/news digest {asked + ' ' if asked else ''}since:{reach(newest, now)}"
    return f"No new stories in {window}; the newest is from {newest:%Y-%m-%d}: `{command}`"


async def digest_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    now = deps.now()
    topics = [t.lower() for t in cmd.args] + ([cmd.options["topic"].lower()] if cmd.options.get("topic") else [])
    unknown = [t for t in topics if t not in deps.config.topics]
    if unknown:
        known = ", ".join(deps.config.topics) or "none configured"
        return usage_for("digest", f"unknown topic '{clip(unknown[0], 40)}' (topics: {known})").to_result()
    window = cmd.options.get("since") or "24h"
    since = parse_time(window, now)
    async with deps.sessions() as s:
        result = await build_digest(s, deps.config, topics=topics or list(deps.config.topics), since=since, until=now)
        if not is_empty(result):
            return result
        newest = (await s.execute(select(func.max(Article.published_at)).where(Article.published_at <= now))).scalar()
    return Result(kind="digest", title=result.title, text=empty_hint(window, newest, now, topics), ephemeral=True)
