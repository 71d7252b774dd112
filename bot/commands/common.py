"""Helpers several subcommands share: clipping, dates, statement lines, paging, "not tracked".

Pure except `cues_for`, which reads the speech cues of the statements a page shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive.statement_store import corroboration
from bot.chat.messages import Item, Page, Result
from bot.chat.speech import attributed
from bot.commands.deps import Deps
from bot.commands.parser import Command
from bot.statements.figures import Figure
from bot.store.models import Article, StatementRow, StatementSource

QUOTE_CLIP = 400


def clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def when(dt: datetime | None) -> str | None:
    """A date, or date and time when the time is known (midnight means 'date only' from feeds/seeds)."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%d}" if (dt.hour, dt.minute) == (0, 0) else f"{dt:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Source:
    """The few article columns a statement line shows (never the article text)."""

    outlet: str | None
    url: str | None
    title: str | None
    published_at: datetime | None


SOURCE_COLUMNS = (Article.outlet, Article.url, Article.title, Article.published_at)


def statement_item(st: StatementRow, art: Source | None, cue: str | None = None, speaker: str | None = None) -> Item:
    """One statement as a newsroom reads it: `Rutte urged: “…”`, then outlet · date · how known, linked."""
    text = clip(st.text, QUOTE_CLIP)
    title = attributed(speaker, st.kind, text, cue) if speaker else (f"“{text}”" if st.kind == "direct" else text)
    published = art.published_at if art is not None and art.published_at else st.first_seen_at
    meta = " · ".join(
        p for p in ((art.outlet if art else None), when(published), corroboration(st.kind, st.outlets)) if p
    )
    headline = clip(art.title, 200) if art is not None and art.title else None
    return Item(title=title, url=art.url if art else None, meta=meta, body=headline)


# Newest first by the date of the article that first carried the statement (when we saw it, if
# undated), stored with the statement so the (speaker, said_at) index answers.
ARTICLE_DATE = StatementRow.said_at


async def cues_for(session: AsyncSession, statements: Sequence[StatementRow]) -> dict[int, str | None]:
    """Each statement's speech cue as its first article wrote it (another source's when that has none)."""
    if not statements:
        return {}
    first = {st.id: st.first_article_id for st in statements}
    rows = (
        await session.execute(
            select(StatementSource.statement_id, StatementSource.article_id, StatementSource.cue)
            .where(StatementSource.statement_id.in_(list(first)), StatementSource.cue.is_not(None))
            .order_by(StatementSource.id)
        )
    ).all()
    cues: dict[int, str | None] = {}
    for sid, article_id, cue in rows:
        if sid not in cues or article_id == first[sid]:
            cues[sid] = cue
    return cues


def spoken_as(fig: Figure, deps: Deps) -> tuple[str, ...]:
    """The speaker names a figure's statements are stored under: the canonical name for a config figure
    (extraction writes that), every written form for one tracked from chat (stored as articles wrote it)."""
    return (fig.name,) if fig.name in {f.name for f in deps.config.figure_list()} else fig.names


def page_of(cmd: Command, shown: int, size: int, has_more: bool) -> Page | None:
    if not has_more:
        return None
    base = " ".join(t for t in [cmd.name, cmd.rest] if t)
    base = re.sub(r"\s*\bpage:\S+", "", base).strip()
    return Page(next_command=f"{base} page:{cmd.page + 1}", shown=shown, offset=(cmd.page - 1) * size)


def not_tracked(written: str, suggestions: tuple[str, ...], deps: Deps, kind: str) -> Result:
    if suggestions:
        return Result(
            kind=kind, ok=False, title=f"No tracked figure called “{clip(written, 60)}”",
            text=f"Did you mean {suggestions[0]}?", suggestions=suggestions,
        )
    names = ", ".join(f.name for f in deps.figures.figures[:12])
    return Result(kind=kind, ok=False, title=f"No tracked figure called “{clip(written, 60)}”",
                  text=f"Tracked figures: {names}" if names else "No figures are tracked.")


def topic_clause(topic: str) -> Any:
    # Topics are stored space-separated; padding makes "nato" not match "natoish".
    return (literal(" ") + Article.topics + literal(" ")).like(f"% {topic.lower()} %")
