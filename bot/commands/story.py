"""`/news story s12` or `story a345`: every article of a story, one per outlet, newest first.

The "All outlets" button of alerts and digests runs it; typed, an article id works too.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.chat.messages import Context, Item, Result, Section
from bot.commands.common import clip, when
from bot.commands.deps import Deps
from bot.commands.parser import Command, usage_for
from bot.store.models import Article, Story

MAX_ARTICLES = 25


def parse_key(text: str) -> tuple[str, int] | None:
    """`s12` → ("s", 12); `a345`, `#345`, `345` → ("a", 345); anything else None."""
    t = text.strip().lower().lstrip("#")
    kind, digits = (t[0], t[1:]) if t[:1] in ("s", "a") else ("a", t)
    return (kind, int(digits)) if digits.isdigit() else None


async def story_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    key = parse_key(cmd.text)
    if key is None:
        return usage_for("story", "a story is named like s12, or by an article id like a345").to_result()
    kind, ident = key
    async with deps.sessions() as s:
        story_id: int | None = ident if kind == "s" else None
        if kind == "a":
            found = (await s.execute(select(Article.id, Article.story_id).where(Article.id == ident))).one_or_none()
            if found is None:
                return Result(kind="story", ok=False, title="No such article", text=f"No article a{ident}.")
            story_id = found.story_id
        cond = Article.story_id == story_id if story_id is not None else Article.id == ident
        rows = list((await s.execute(
            select(Article).where(cond).order_by(Article.published_at.desc().nulls_last(), Article.id.desc())
            .limit(MAX_ARTICLES + 1)
        )).scalars())
        story = await s.get(Story, story_id) if story_id is not None else None
    if not rows:
        return Result(kind="story", ok=False, title="No such story", text=f"No story {clip(cmd.text, 20)}.")
    outlets = {a.outlet or a.url for a in rows}
    title = clip((story.title if story else None) or rows[0].title or "Story", 150)
    items = tuple(
        Item(title=a.title or a.url or f"a{a.id}", url=a.url,
             meta=" · ".join(p for p in (a.outlet, when(a.published_at or a.first_seen_at)) if p) or None)
        for a in rows[:MAX_ARTICLES]
    )
    more = f"{len(rows) - MAX_ARTICLES}+ more not shown." if len(rows) > MAX_ARTICLES else None
    return Result(kind="story", title=f"{title}: {len(outlets)} outlet{'s' if len(outlets) != 1 else ''}",
                  sections=(Section(items=items),), footer=more)
