"""The figures tracked from chat (the `figures` table) and the set extraction uses: config plus chat.

Read here, below both the ingester and the /news commands, so that a figure tracked from chat is
known to extraction at the next ingest cycle and to commands at their next command, with no
restart. The config's figures are the defaults: on a name clash the config's entry wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import AppConfig
from bot.statements.figures import Figure, Title
from bot.store.models import FigureRow


def figure_of(row: FigureRow) -> Figure:
    data: dict[str, Any] = row.aliases or {}
    titles = tuple(Title(str(t)) for t in data.get("titles") or ())
    return Figure(name=row.name, aliases=tuple(str(a) for a in data.get("aliases") or ()), titles=titles,
                  gender=row.gender)


def row_data(aliases: tuple[str, ...], titles: tuple[str, ...]) -> dict[str, Any]:
    return {"aliases": list(aliases), "titles": list(titles)}


async def chat_figures(session: AsyncSession) -> list[Figure]:
    return [figure_of(r) for r in (await session.execute(select(FigureRow).order_by(FigureRow.id))).scalars()]


def merged(configured: Iterable[Figure], from_chat: Iterable[Figure]) -> tuple[Figure, ...]:
    """The config's figures, then the chat-tracked ones whose name the config does not already use."""
    own = tuple(configured)
    names = {f.name for f in own}
    return (*own, *(f for f in from_chat if f.name not in names))


async def tracked_figures(session: AsyncSession, config: AppConfig) -> tuple[Figure, ...]:
    """Every figure extraction should resolve now: one small query on the `figures` table."""
    return merged(config.figure_list(), await chat_figures(session))
