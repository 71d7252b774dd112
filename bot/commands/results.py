"""Adapter-neutral results: what a command or an alert says, before any platform renders it.

Plain frozen dataclasses, so the command core can be tested without Slack or Discord, and every
adapter renders the same facts. Text may carry `**bold**` marks (search highlights); adapters
translate them to their own markup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Context:
    """Who asked, and where: adapters fill it in from the platform's request."""

    platform: str  # slack | discord | console
    channel_id: str
    user_id: str = "console"
    is_admin: bool = False
    channel_name: str | None = None


@dataclass(frozen=True)
class Item:
    """One entry of a list: a search hit, a statement, a story, a feed."""

    title: str
    url: str | None = None
    meta: str | None = None  # "Reuters · 2025-06-09 14:02 · reported by 4 outlets"
    body: str | None = None  # snippet or quote text
    fields: tuple[tuple[str, str], ...] = ()  # extra name/value pairs (feed health, counts)


@dataclass(frozen=True)
class Section:
    heading: str | None = None
    items: tuple[Item, ...] = ()
    text: str | None = None


@dataclass(frozen=True)
class Page:
    """How to ask for more: the command that returns the next page."""

    next_command: str
    shown: int
    offset: int


@dataclass(frozen=True)
class Result:
    kind: str  # search | quotes | figure | digest | subscribe | unsubscribe | feeds | status | help | usage | error | alert
    title: str
    text: str | None = None
    sections: tuple[Section, ...] = ()
    ok: bool = True
    page: Page | None = None
    suggestions: tuple[str, ...] = ()  # "did you mean …" candidates
    ephemeral: bool = True  # reply only to the asker unless they choose to post it
    link: str | None = None  # the article an alert or single result points at
    footer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Usage:
    """A short usage reply for a malformed command."""

    command: str
    usage: str
    problem: str = field(default="")

    def to_result(self) -> Result:
        text = f"{self.problem}\nUsage: {self.usage}" if self.problem else f"Usage: {self.usage}"
        return Result(kind="usage", title=f"/news {self.command}".strip(), text=text, ok=False)
