"""`/news search`: the archive's full-text search, a page at a time."""

from __future__ import annotations

from bot.chat.messages import Context, Item, Result, Section
from bot.commands.common import page_of, when
from bot.commands.deps import Deps
from bot.commands.parser import Command, usage_for


async def search_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    from bot.store.search import search

    size = deps.page_size
    offset = (cmd.page - 1) * size
    async with deps.sessions() as s:
        page = await search(s, cmd.rest, limit=size, offset=offset)
    described = page.query.describe() or cmd.rest
    if page.query.is_empty:
        return usage_for("search", "no words left to search for").to_result()
    items = tuple(
        Item(
            title=h.title,
            url=h.url,
            meta=" · ".join(p for p in (h.outlet, when(h.published)) if p) or None,
            body=h.snippet or None,
        )
        for h in page.hits
    )
    notes = "; ".join(page.query.notes) or None
    if not items:
        text = f"No matches for {described}." if offset == 0 else f"No more matches for {described}."
        return Result(kind="search", title=f"Search: {described}", text=text, footer=notes)
    return Result(
        kind="search",
        title=f"Search: {described}",
        sections=(Section(items=items),),
        page=page_of(cmd, len(items), size, page.has_more),
        footer=notes,
    )
