"""What every `/news` handler is given: the database, the config, the figure index, a clock.

Its own module so the subcommand modules and the registry share it without importing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat.messages import Context, Result
from bot.commands.figure_lookup import FigureIndex
from bot.commands.parser import Command
from bot.config import AppConfig


@dataclass
class Deps:
    """What the handlers need from the running bot; tests build one over a real database."""

    sessions: async_sessionmaker[AsyncSession]
    config: AppConfig
    figures: FigureIndex
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    page_size: int = 5
    # Called after a subscription changes, so the app re-reads digest schedules.
    on_subscriptions_changed: Callable[[], Awaitable[None]] | None = None
    # Extra lines for `status` from the running app (adapters connected, worker state).
    runtime_status: Callable[[], dict[str, str]] | None = None
    allow_private_feeds: bool = False  # NEWSBOT_ALLOW_PRIVATE_FEEDS: feeds on loopback/private addresses
    # What `figures` was built from: the figures table's (count, max id, sum of ids), None for config only.
    figures_stamp: tuple[Any, ...] | None = None

    @classmethod
    def build(cls, sessions: async_sessionmaker[AsyncSession], config: AppConfig, **kw: Any) -> Deps:
        return cls(sessions=sessions, config=config, figures=FigureIndex(config.figure_list()), **kw)


Handler = Callable[[Command, Context, Deps], Awaitable[Result]]
