"""`/news figure`: who a tracked figure is, recent statements, quotes per week."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.alerts import short_name
from bot.chat.messages import Context, Item, Result, Section
from bot.chat.spark import buckets, sparkline
from bot.commands.common import (
    ARTICLE_DATE,
    SOURCE_COLUMNS,
    Source,
    cues_for,
    not_tracked,
    spoken_as,
    statement_item,
)
from bot.commands.deps import Deps
from bot.commands.parser import Command
from bot.store.models import Article, StatementRow

TIMELINE_WEEKS = 8
TIMELINE_SCAN = 3000  # newest sources looked at for the per-week timeline
GLANCE_DAYS = 30
GLANCE_SCAN = 5000  # statements looked at for the 30-day glance


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def timeline_text(dates: list[datetime], weeks: int = TIMELINE_WEEKS) -> str:
    """Quotes per week as a small bar chart, ending at the newest week with quotes (pure)."""
    if not dates:
        return "No quotes yet."
    counts = Counter(week_start(d.astimezone(UTC).date()) for d in dates)
    last = max(counts)
    rows = []
    top = max(counts.values())
    for i in range(weeks - 1, -1, -1):
        wk = last - timedelta(weeks=i)
        n = counts.get(wk, 0)
        bar = "█" * max(1 if n else 0, round(20 * n / top))
        rows.append(f"{wk:%Y-%m-%d}  {bar} {n}")
    return "\n".join(rows)


async def _last_days(s: AsyncSession, names: tuple[str, ...], now: datetime) -> list[tuple[str, str]]:
    """The glance: statements a day over the last 30 days as a sparkline, and the outlets that carried
    them most (by the article each statement was first seen in)."""
    start = now - timedelta(days=GLANCE_DAYS)
    rows = (
        await s.execute(
            select(ARTICLE_DATE, Article.outlet)
            .select_from(StatementRow)
            .outerjoin(Article, Article.id == StatementRow.first_article_id)
            .where(StatementRow.speaker.in_(names), start < ARTICLE_DATE, now >= ARTICLE_DATE)
            .limit(GLANCE_SCAN)
        )
    ).all()
    if not rows:
        return [(f"Last {GLANCE_DAYS} days", "no statements")]
    days = buckets([r[0] for r in rows if r[0] is not None], now, timedelta(days=GLANCE_DAYS), GLANCE_DAYS)
    line = f"{sparkline(days)} {len(rows)} statement{'s' if len(rows) != 1 else ''}"
    outlets = Counter(r[1] for r in rows if r[1]).most_common(3)
    top = ", ".join(f"{name} {n}" for name, n in outlets)
    return [(f"Last {GLANCE_DAYS} days", line), *((("Top outlets", top),) if top else ())]


async def figure_cmd(cmd: Command, ctx: Context, deps: Deps) -> Result:
    res = deps.figures.resolve(cmd.text, deps.now().date())
    if res.figure is None:
        return not_tracked(cmd.text, res.suggestions, deps, "figure")
    fig = res.figure
    names = spoken_as(fig, deps)
    async with deps.sessions() as s:
        total = int(
            (await s.execute(select(func.count()).select_from(StatementRow).where(StatementRow.speaker.in_(names)))).scalar()
            or 0
        )
        recent = (
            await s.execute(
                select(StatementRow, *SOURCE_COLUMNS)
                .outerjoin(Article, Article.id == StatementRow.first_article_id)
                .where(StatementRow.speaker.in_(names))
                .order_by(ARTICLE_DATE.desc(), StatementRow.id.desc())
                .limit(3)
            )
        ).all()
        cues = await cues_for(s, [r[0] for r in recent])
        # Quotes per week: each statement counts the articles carrying it (StatementRow.sources), in the
        # week it was first seen. Index-only on (speaker, first_seen_at); no join, fast at 1M articles.
        latest = (
            await s.execute(select(func.max(StatementRow.first_seen_at)).where(StatementRow.speaker.in_(names)))
        ).scalar()
        dates: list[datetime] = []
        if latest is not None:
            for seen, sources in (
                await s.execute(
                    select(StatementRow.first_seen_at, StatementRow.sources)
                    .where(StatementRow.speaker.in_(names),
                           StatementRow.first_seen_at >= latest - timedelta(weeks=TIMELINE_WEEKS))
                    .limit(TIMELINE_SCAN)
                )
            ).all():
                dates += [seen] * max(1, min(int(sources or 1), 50))
        glance = await _last_days(s, names, deps.now())
    titles = deps.figures.current_titles(fig, deps.now().date())
    who = "; ".join(titles[:3]) if titles else "tracked figure"
    aliases = ", ".join(a for a in fig.aliases[:6])
    about = Section(
        items=(
            Item(
                title=fig.name,
                meta=who,
                fields=tuple(
                    p for p in (("Also written", aliases) if aliases else None, ("Statements", str(total)),
                                *glance) if p
                ),
            ),
        )
    )
    sections = [about]
    if recent:
        sections.append(Section(heading="Recent statements", items=tuple(
            statement_item(r[0], Source(*r[1:]), cues.get(r[0].id), short_name(fig.name, deps.figures.figures)) for r in recent
        )))
    sections.append(Section(heading="Quoted per week (articles)", text=timeline_text(dates)))
    return Result(kind="figure", title=f"Figure: {fig.name}", sections=tuple(sections),
                  footer=f"more: quotes {fig.name}" if total > 3 else None)
