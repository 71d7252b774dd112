"""The adapter protocol: how a chat platform plugs into the core.

An adapter receives commands from its platform, passes them to the command core as text plus a
`Context`, and renders the `Result` it gets back; it also posts alerts and digests for the
delivery worker. It holds no business logic. A new platform is one new module implementing this.

How `newsbot run` finds an adapter: the module `adapters.<platform>` exposes
`create(settings: bot.chat.ports.PlatformSettings) -> Adapter` (preferred), or a class named
`<Platform>Adapter` whose constructor takes `settings` as its only required argument. An adapter
that serves HTTP (Slack's HTTP mode) may also expose `http_routes() -> list[aiohttp.web.RouteDef]`;
the bot's own HTTP server (NEWSBOT_HTTP_HOST/PORT) mounts them next to /healthz and /metrics.

`PostReceipt`, `DeliveryError` and `CommandHandler` are defined in `bot.chat.messages` (the
delivery worker in `bot/` catches `DeliveryError` and must not import `adapters/`) and re-exported
here: `from adapters.base import DeliveryError` is the same class.
"""

from __future__ import annotations

from typing import Protocol

from bot.chat.messages import CommandHandler, Context, DeliveryError, PostReceipt, Result

__all__ = ["Adapter", "CommandHandler", "Context", "DeliveryError", "PostReceipt", "Result"]


class Adapter(Protocol):
    platform: str

    async def start(self, handle: CommandHandler) -> None:
        """Connect and begin receiving commands; returns once listening."""

    async def stop(self) -> None:
        """Stop receiving, finish in-flight replies, close connections."""

    async def post(self, channel_id: str, result: Result, *, idempotency_key: str) -> PostReceipt:
        """Post an alert or digest to a channel. Raises DeliveryError.

        Slack: ~1 message/s per channel (the delivery worker paces per channel). Raise
        `DeliveryError(retry_after=s)` on a 429, `DeliveryError(permanent=True)` when the channel is
        gone or the bot was removed, plain `DeliveryError` for other temporary failures.
        """

    async def find_posted(self, channel_id: str, idempotency_key: str) -> PostReceipt | None:
        """Look for a message already posted under this key (crash between post and record)."""
