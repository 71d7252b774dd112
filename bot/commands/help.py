"""`/news help`: every subcommand with its usage, or one in detail."""

from __future__ import annotations

from bot.chat.messages import Context, Item, Result, Section
from bot.commands.deps import Deps
from bot.commands.parser import SPECS, Command, help_lines


async def help_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    if cmd.args:
        name = cmd.args[0].lower()
        if name in SPECS:
            spec = SPECS[name]
            return Result(kind="help", title=f"/news {name}", text=f"{spec.summary}\nUsage: /news {spec.usage}")
    items = tuple(Item(title=f"/news {usage}", body=summary) for usage, summary in help_lines())
    return Result(
        kind="help", title="/news: newsroom lookups",
        sections=(Section(items=items),),
        footer='Figures by name, alias or title ("zelenskyy", "the nato chief"). Times: 24h, 7d, 2w, 2025-06-01.',
    )
