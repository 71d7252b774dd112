"""`/news quotes`: what a person said, newest first, with outlet, date and link."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.alerts import short_name
from bot.chat.messages import Context, Result, Section
from bot.commands.common import (
    ARTICLE_DATE,
    SOURCE_COLUMNS,
    Source,
    cues_for,
    not_tracked,
    page_of,
    spoken_as,
    statement_item,
    topic_clause,
)
from bot.commands.deps import Deps
from bot.commands.parser import Command, usage_for
from bot.store.models import Article, StatementRow
from bot.store.search.query import parse_time


async def _speaker_name(session: AsyncSession, written: str, deps: Deps) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every written form of the speaker (a figure's name first, an untracked speaker as stored); else
    no names and suggestions."""
    res = deps.figures.resolve(written, deps.now().date())
    if res.figure is not None:
        return spoken_as(res.figure, deps), ()
    stored = (
        await session.execute(
            # Exact forms only: the speaker index answers, no scan of every statement.
            select(StatementRow.speaker)
            .where(StatementRow.speaker.in_({written.strip(), written.strip().title()}))
            .limit(1)
        )
    ).scalar_one_or_none()
    if stored:
        return (stored,), ()
    return (), res.suggestions


async def quotes_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    now = deps.now()
    since = parse_time(cmd.options["since"], now) if cmd.options.get("since") else None
    topic = cmd.options.get("topic", "").strip().lower() or None
    kind = cmd.options.get("kind", "").strip().lower() or None
    if kind not in (None, "direct", "reported"):
        return usage_for("quotes", "kind: is direct or reported").to_result()
    size = deps.page_size
    offset = (cmd.page - 1) * size
    async with deps.sessions() as s:
        names, suggestions = await _speaker_name(s, cmd.text, deps)
        if not names:
            return not_tracked(cmd.text, suggestions, deps, "quotes")
        name = names[0]
        q = (
            select(StatementRow, *SOURCE_COLUMNS)
            .outerjoin(Article, Article.id == StatementRow.first_article_id)
            .where(StatementRow.speaker.in_(names))
        )
        if since is not None:
            q = q.where(since <= ARTICLE_DATE)
        if topic:
            q = q.where(topic_clause(topic))
        if kind:
            q = q.where(StatementRow.kind == kind)
        rows = (
            await s.execute(q.order_by(ARTICLE_DATE.desc(), StatementRow.id.desc()).limit(size + 1).offset(offset))
        ).all()
        cues = await cues_for(s, [row[0] for row in rows[:size]])
    filters = " ".join(p for p in (f"since:{cmd.options['since']}" if since else "", f"topic:{topic}" if topic else "",
                                   f"kind:{kind}" if kind else "") if p)
    title = f"Quotes: {name}" + (f" ({filters})" if filters else "")
    who = short_name(name, deps.figures.figures)
    items = tuple(statement_item(row[0], Source(*row[1:]), cues.get(row[0].id), who) for row in rows[:size])
    if not items:
        return Result(kind="quotes", title=title, text="No statements found." if offset == 0 else "No more statements.")
    return Result(kind="quotes", title=title, sections=(Section(items=items),),
                  page=page_of(cmd, len(items), size, len(rows) > size))
