"""The adapter protocol: how a chat platform plugs into the core.

An adapter receives commands from its platform, passes them to the command core as text plus a
`Context`, and renders the `Result` it gets back; it also posts alerts and digests for the
delivery worker. It holds no business logic. A new platform is one new module implementing this.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.commands.results import Context, Result

# The core's entry point as adapters see it: command text ("quotes rutte since:7d") and who asked.
CommandHandler = Callable[[str, Context], Awaitable[Result]]


@dataclass(frozen=True)
class PostReceipt:
    """What the platform said when it accepted a message: its id, to find it again after a crash."""

    message_id: str


class DeliveryError(Exception):
    """A post failed. `permanent` means retrying cannot help (channel gone, bot removed)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Adapter(Protocol):
    platform: str

    async def start(self, handle: CommandHandler) -> None:
        """Connect and begin receiving commands; returns once listening."""

    async def stop(self) -> None:
        """Stop receiving, finish in-flight replies, close connections."""

    async def post(self, channel_id: str, result: Result, *, idempotency_key: str) -> PostReceipt:
        """Post an alert or digest to a channel. Raises DeliveryError."""

    async def find_posted(self, channel_id: str, idempotency_key: str) -> PostReceipt | None:
        """Look for a message already posted under this key (crash between post and record)."""
