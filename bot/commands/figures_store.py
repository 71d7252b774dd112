"""Figures tracked from chat: stored in the `figures` table, merged over the config's defaults.

Every process answering commands keeps a `FigureIndex`; `refresh_figures` rebuilds it when the
table changed (one small query a command), so a figure tracked through one process is known to
all of them at their next command.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands.deps import Deps
from bot.commands.figure_lookup import FigureIndex
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


async def refresh_figures(deps: Deps) -> None:
    """Rebuild `deps.figures` from the config and the table when the table changed since last time."""
    async with deps.sessions() as s:
        stamp = tuple((await s.execute(select(func.count(), func.max(FigureRow.id), func.sum(FigureRow.id)))).one())
        if stamp == deps.figures_stamp:
            return
        from_chat = await chat_figures(s)
    configured = deps.config.figure_list()
    names = {f.name for f in configured}
    deps.figures = FigureIndex([*configured, *(f for f in from_chat if f.name not in names)])
    deps.figures_stamp = stamp
