"""Figures tracked from chat: stored in the `figures` table, merged over the config's defaults.

Every process answering commands keeps a `FigureIndex`; `refresh_figures` rebuilds it when the
table changed (one small query a command), so a figure tracked through one process is known to
all of them at their next command.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.archive.figures import chat_figures, merged
from bot.commands.deps import Deps
from bot.commands.figure_lookup import FigureIndex
from bot.store.models import FigureRow


async def refresh_figures(deps: Deps) -> None:
    """Rebuild `deps.figures` from the config and the table when the table changed since last time."""
    async with deps.sessions() as s:
        stamp = tuple((await s.execute(select(func.count(), func.max(FigureRow.id), func.sum(FigureRow.id)))).one())
        if stamp == deps.figures_stamp:
            return
        from_chat = await chat_figures(s)
    deps.figures = FigureIndex(list(merged(deps.config.figure_list(), from_chat)))
    deps.figures_stamp = stamp
