"""`/news digest`: top stories and statements since a time, for some or all topics."""

from __future__ import annotations

from bot.chat.messages import Context, Result
from bot.commands.common import clip
from bot.commands.deps import Deps
from bot.commands.parser import Command, usage_for
from bot.store.search.query import parse_time


async def digest_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    from bot.chat.digests import build_digest

    now = deps.now()
    topics = [t.lower() for t in cmd.args] + ([cmd.options["topic"].lower()] if cmd.options.get("topic") else [])
    unknown = [t for t in topics if t not in deps.config.topics]
    if unknown:
        known = ", ".join(deps.config.topics) or "none configured"
        return usage_for("digest", f"unknown topic '{clip(unknown[0], 40)}' (topics: {known})").to_result()
    since = parse_time(cmd.options.get("since") or "24h", now)
    assert since is not None
    async with deps.sessions() as s:
        return await build_digest(s, deps.config, topics=topics or list(deps.config.topics), since=since, until=now)
