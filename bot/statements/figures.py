"""Tracked public figures as plain data.

Kept apart from the settings code so that extraction (pure functions) can take figures without
importing configuration or storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Title:
    """A title or role a figure held over a period ("NATO chief" for Rutte from 2024-10-01)."""

    title: str
    since: date | None = None
    until: date | None = None

    def held_on(self, day: date | None) -> bool:
        """True when the title was held on `day`; an unknown day counts as today."""
        day = day or date.today()
        return (self.since is None or self.since <= day) and (self.until is None or day < self.until)


@dataclass(frozen=True)
class Figure:
    """A tracked person: canonical name, variants, dated titles and grammatical gender."""

    name: str
    aliases: tuple[str, ...] = ()
    titles: tuple[Title, ...] = ()
    gender: str | None = None  # "m", "f", or None when unknown
    topics: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        """Every written form that means this person, canonical name first."""
        return (self.name, *self.aliases)
