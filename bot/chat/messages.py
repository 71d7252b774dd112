"""Adapter-neutral results: what a command or an alert says, before any platform renders it.

Plain frozen dataclasses, so the command core can be tested without Slack or Discord, and every
adapter renders the same facts. Text may carry `**bold**` marks (search highlights); adapters
translate them to their own markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
class Action:
    """A button: clicking it runs `command` (a `/news` command) as the person who clicked, through the
    same core and the same permission checks as typing it."""

    label: str
    command: str


@dataclass(frozen=True)
class Item:
    """One entry of a list: a search hit, a statement, a story, a feed."""

    title: str
    url: str | None = None
    meta: str | None = None  # "Reuters · 2025-06-09 14:02 · reported by 4 outlets"
    body: str | None = None  # snippet or quote text
    fields: tuple[tuple[str, str], ...] = ()  # extra name/value pairs (feed health, counts)
    actions: tuple[Action, ...] = ()  # buttons under the item (alerts, digests)


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
    kind: str  # search | quotes | figure | digest | subscribe | unsubscribe | feeds | status | help | usage | error | alert | article
    title: str
    text: str | None = None
    sections: tuple[Section, ...] = ()
    ok: bool = True
    page: Page | None = None
    suggestions: tuple[str, ...] = ()  # "did you mean …" candidates
    ephemeral: bool = True  # reply only to the asker unless they choose to post it
    link: str | None = None  # the article an alert or single result points at
    footer: str | None = None
    mention: str | None = None  # who a channel post pings: "@here", "@channel", "<@U…>", "<@&role>"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """The inverse of `to_dict` (JSON turns tuples into lists): digests travel through the outbox so."""
        sections = tuple(
            Section(
                heading=s.get("heading"),
                text=s.get("text"),
                items=tuple(
                    Item(
                        title=str(i.get("title", "")),
                        url=i.get("url"),
                        meta=i.get("meta"),
                        body=i.get("body"),
                        fields=tuple((str(k), str(v)) for k, v in i.get("fields") or ()),
                        actions=tuple(Action(str(a["label"]), str(a["command"])) for a in i.get("actions") or ()
                                      if isinstance(a, dict) and a.get("label") and a.get("command")),
                    )
                    for i in s.get("items") or ()
                ),
            )
            for s in data.get("sections") or ()
        )
        page = data.get("page")
        return cls(
            kind=str(data.get("kind", "digest")),
            title=str(data.get("title", "")),
            text=data.get("text"),
            sections=sections,
            ok=bool(data.get("ok", True)),
            page=Page(**page) if isinstance(page, dict) else None,
            suggestions=tuple(data.get("suggestions") or ()),
            ephemeral=bool(data.get("ephemeral", True)),
            link=data.get("link"),
            footer=data.get("footer"),
            mention=data.get("mention"),
        )


@dataclass(frozen=True)
class PostReceipt:
    """What the platform said when it accepted a message: its id, to find it again after a crash."""

    message_id: str


class DeliveryError(Exception):
    """A post failed. `permanent` means retrying cannot help (channel gone, bot removed).

    `retry_after` (seconds) is the platform's own word on when to try again (a 429's Retry-After).
    Defined here, not in `adapters/`, because the delivery worker in `bot/` catches it;
    `adapters.base` re-exports it.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Usage:
    """A short usage reply for a malformed command."""

    command: str
    usage: str
    problem: str = field(default="")

    def to_result(self) -> Result:
        text = f"{self.problem}\nUsage: {self.usage}" if self.problem else f"Usage: {self.usage}"
        return Result(kind="usage", title=f"/news {self.command}".strip(), text=text, ok=False)


# The core's entry point as adapters see it: command text ("quotes rutte since:7d") and who asked.
CommandHandler = Callable[[str, Context], Awaitable[Result]]
