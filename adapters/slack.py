"""Slack adapter: slack-bolt's AsyncApp translating `/news` and Block Kit to and from the core.

Two ways in, chosen by the settings: Socket Mode when `SLACK_APP_TOKEN` is set (no public URL
needed), else HTTP mode, where the bot's own HTTP server mounts `http_routes()` at `/slack/events`
and bolt verifies the signing secret (forged or stale requests get 401). Slash commands are acked
at once (Slack allows 3 seconds) and answered through `response_url`, ephemeral by default with a
"Post to channel" button that re-runs the command and posts the answer for everyone.

Outgoing posts carry the delivery's idempotency key in message metadata, so `find_posted` can tell
after a crash whether a message went out. 429s are waited out by slack-sdk's rate-limit retry
handler (not on by default); errors that retrying cannot fix become `DeliveryError(permanent=True)`.
No business logic lives here: only translation.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import CommandHandler, DeliveryError, PostReceipt
from adapters.slack_blocks import COMMAND_ACTION_PREFIX, POST_ACTION_ID, SlackMessage, home_view, render
from bot.chat.messages import Context, Result

if TYPE_CHECKING:
    from bot.chat.ports import PlatformSettings

log = logging.getLogger(__name__)

COMMAND = "/news"
METADATA_EVENT = "newsbot_delivery"
HISTORY_PAGE = 15  # conversations.history `limit` cap for apps outside the Slack Marketplace
RESPONSE_URL_REPLIES = 5  # response_url accepts up to 5 replies within 30 minutes
# Errors no retry can fix: the channel is gone, the bot is not in it, or the message is malformed.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "ekm_access_denied",
        "invalid_blocks",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "msg_too_long",
        "too_many_attachments",
        "no_text",
    }
)
ADMIN_CACHE_SECONDS = 600.0
MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[:,]?")  # the leading "@newsbot" of an app_mention


HOME_CHANGES = frozenset({"subscribe", "unsubscribe", "track", "untrack", "feeds"})  # results that change the Home tab
HOME_VIEWERS_MAX = 500


def delivery_error(exc: SlackApiError | aiohttp.ClientError | TimeoutError) -> DeliveryError:
    """Map a failed Web API call to the delivery worker's vocabulary."""
    if isinstance(exc, SlackApiError):
        error = str(exc.response.get("error", "unknown_error"))
        if exc.response.status_code == 429 or error == "ratelimited":
            header = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            retry_after = float(header[0] if isinstance(header, list) else header) if header else 1.0
            return DeliveryError(f"slack: rate limited ({error})", retry_after=retry_after)
        return DeliveryError(f"slack: {error}", permanent=error in PERMANENT_ERRORS)
    return DeliveryError(f"slack: {type(exc).__name__}: {exc}")


class SlackAdapter:
    """One Slack workspace. Build with `from_settings`; `start(handle)` begins serving."""

    platform = "slack"

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str | None = None,
        app_token: str | None = None,
        api_url: str | None = None,
        post_interval: float = 1.0,
        history_limit: int = 1000,  # messages one confirmation looks through at most
        rate_limit_retries: int = 2,
    ) -> None:
        if not app_token and not signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)")
        kwargs: dict[str, Any] = {"token": bot_token}
        if api_url:
            kwargs["base_url"] = api_url if api_url.endswith("/") else api_url + "/"  # slack-sdk uses urljoin
        self.client = AsyncWebClient(**kwargs)
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries))
        self.app_token = app_token
        self.post_interval = post_interval
        self.history_limit = history_limit
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret or "",
            request_verification_enabled=bool(signing_secret) and not app_token,
            logger=logging.getLogger("slack_bolt"),
        )
        self.app.command(COMMAND)(self._on_command)
        self.app.action(POST_ACTION_ID)(self._on_post_button)
        self.app.action(re.compile(f"^{COMMAND_ACTION_PREFIX}:"))(self._on_command_button)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("app_home_opened")(self._on_home_opened)
        self._handle: CommandHandler | None = None
        self._socket: Any = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._home_viewers: dict[str, Context] = {}  # who opened the Home tab: refreshed when it changes
        self._admin_cache: dict[str, tuple[float, bool]] = {}
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._last_post: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> SlackAdapter:
        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        token = secret(settings.slack_bot_token)
        if not token:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        return cls(
            bot_token=token,
            signing_secret=secret(settings.slack_signing_secret),
            app_token=secret(settings.slack_app_token),
            api_url=settings.slack_api_url,
        )

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self, handle: CommandHandler) -> None:
        self._handle = handle
        if self.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self.app_token)
            await self._socket.connect_async()
            log.info("slack: connected in Socket Mode")
        else:
            log.info("slack: HTTP mode, serving %s at /slack/events", COMMAND)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=10)
        self._handle = None

    def http_routes(self) -> list[web.RouteDef]:
        """Routes for the bot's HTTP server (HTTP mode): Slack posts commands and clicks here."""
        return [web.post("/slack/events", self.handle_http)]

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        # bolt turns a timestamp that is not a number into a 500; a forged request gets 401.
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if not self.socket_mode and not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            return web.json_response({"error": "invalid request"}, status=401)
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    # --- commands in -----------------------------------------------------------------------
    async def _is_admin(self, user_id: str) -> bool:
        """Workspace admins and owners may use admin subcommands; asked once per 10 minutes."""
        now = time.monotonic()
        cached = self._admin_cache.get(user_id)
        if cached and now - cached[0] < ADMIN_CACHE_SECONDS:
            return cached[1]
        try:
            info = await self.client.users_info(user=user_id)
            user = info.get("user") or {}
            admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        except (TimeoutError, SlackApiError, aiohttp.ClientError) as exc:
            log.warning("slack: users.info failed for %s, treating as non-admin: %s", user_id, exc)
            return False
        self._admin_cache[user_id] = (now, admin)
        return admin

    async def _run(self, text: str, ctx: Context) -> Result | None:
        if self._handle is None:
            return Result(kind="error", title="newsbot is starting", text="Try again in a moment.", ok=False)
        try:
            result = await self._handle(text, ctx)
            self._changed(result)
            return result
        except Exception:
            log.exception("slack: command failed: %r", text)
            return Result(kind="error", title="Something went wrong", text="The error was logged.", ok=False)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()  # first, always: Slack shows an error after 3 seconds without it
        self._track()
        text = str(command.get("text") or "").strip()
        user_id = str(command.get("user_id", ""))
        ctx = Context(
            platform="slack",
            channel_id=str(command.get("channel_id", "")),
            user_id=user_id,
            is_admin=await self._is_admin(user_id),
            channel_name=command.get("channel_name"),
        )
        result = await self._run(text, ctx)
        if result is None:
            return
        ephemeral = result.ephemeral
        messages = render(result, button_command=text if ephemeral else None, max_messages=RESPONSE_URL_REPLIES)
        await self._respond_all(respond, messages, "ephemeral" if ephemeral else "in_channel")

    async def _run_button(self, body: dict[str, Any]) -> tuple[str, Result | None]:
        """A clicked button's /news command, run as the person who clicked, in the channel it was in."""
        self._track()
        text = str(body.get("actions", [{}])[0].get("value") or "")
        user = body.get("user") or {}
        channel = body.get("channel") or {}
        ctx = Context(
            platform="slack",
            channel_id=str(channel.get("id", "")),
            user_id=str(user.get("id", "")),
            is_admin=await self._is_admin(str(user.get("id", ""))),
            channel_name=channel.get("name"),
        )
        return text, await self._run(text, ctx)

    async def _on_post_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """ "Post to channel": re-run the command as asked and post the answer for everyone."""
        await ack()
        text, result = await self._run_button(body)
        if result is None:
            return
        messages = render(result, max_messages=RESPONSE_URL_REPLIES - 1)
        if await self._respond_all(respond, messages, "in_channel"):
            await self._safe_respond(respond, delete_original=True)

    async def _on_command_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """A button on an alert or digest item ("Mute Rutte here", "All outlets"): its value is a /news
        command, run as the person who clicked (their admin flag, this channel), answered to them."""
        await ack()  # within Slack's 3 seconds, before any work
        text, result = await self._run_button(body)
        if result is None:
            return
        button = text if result.ephemeral else None
        messages = render(result, button_command=button, max_messages=RESPONSE_URL_REPLIES)
        await self._respond_all(respond, messages, "ephemeral" if result.ephemeral else "in_channel")

    async def _on_home_opened(self, event: dict[str, Any]) -> None:
        """The App Home tab was opened: publish the bot's state (`/news home`, as that user) as the tab."""
        if event.get("tab", "home") != "home":
            return
        self._track()
        user_id = str(event.get("user", ""))
        ctx = Context(platform="slack", channel_id=str(event.get("channel", "")), user_id=user_id,
                      is_admin=await self._is_admin(user_id))
        await self._publish_home(ctx)

    async def _publish_home(self, ctx: Context) -> None:
        result = await self._handle("home", ctx) if self._handle is not None else None
        if result is None or not result.ok:
            return
        if len(self._home_viewers) < HOME_VIEWERS_MAX or ctx.user_id in self._home_viewers:
            self._home_viewers[ctx.user_id] = ctx
        try:
            await self.client.views_publish(user_id=ctx.user_id, view=home_view(result))
        except (TimeoutError, SlackApiError, aiohttp.ClientError) as exc:
            log.warning("slack: publishing the Home tab for %s failed: %s", ctx.user_id, exc)

    def _changed(self, result: Result) -> None:
        """A command changed what the Home tab shows: publish it again for those who opened it."""
        if not result.ok or result.kind not in HOME_CHANGES or not self._home_viewers:
            return

        async def refresh() -> None:
            self._track()
            for ctx in list(self._home_viewers.values()):
                await self._publish_home(ctx)

        task = asyncio.create_task(refresh(), name="slack-home-refresh")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _on_mention(self, event: dict[str, Any]) -> None:
        """An "@newsbot quotes rutte" mention: the same command, answered in a thread (or only to the asker)."""
        self._track()
        text = MENTION.sub("", str(event.get("text") or ""), count=1).strip()
        user_id, channel_id = str(event.get("user", "")), str(event.get("channel", ""))
        ctx = Context(platform="slack", channel_id=channel_id, user_id=user_id, is_admin=await self._is_admin(user_id))
        result = await self._run(text, ctx)
        if result is None:
            return
        thread = event.get("thread_ts") or event.get("ts")
        try:
            for msg in render(result, max_messages=RESPONSE_URL_REPLIES):
                if result.ephemeral:
                    await self.client.chat_postEphemeral(
                        channel=channel_id, user=user_id, text=msg.text, blocks=msg.blocks, thread_ts=thread
                    )
                else:
                    await self.client.chat_postMessage(
                        channel=channel_id, text=msg.text, blocks=msg.blocks, thread_ts=thread, unfurl_links=False
                    )
        except (TimeoutError, SlackApiError, aiohttp.ClientError) as exc:
            log.warning("slack: answering a mention in %s failed: %s", channel_id, exc)

    async def _respond_all(self, respond: AsyncRespond, messages: list[SlackMessage], response_type: str) -> bool:
        ok = True
        for msg in messages:
            ok = (
                await self._safe_respond(
                    respond, text=msg.text, blocks=msg.blocks, response_type=response_type, replace_original=False
                )
                and ok
            )
        return ok

    async def _safe_respond(self, respond: AsyncRespond, **kwargs: Any) -> bool:
        try:
            response = await respond(**kwargs)
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("slack: response_url failed: %s", exc)
            return False
        if response.status_code >= 300:
            log.warning("slack: response_url answered %s: %s", response.status_code, response.body)
            return False
        return True

    # --- delivery out ----------------------------------------------------------------------
    async def _paced(self, channel_id: str) -> asyncio.Lock:
        return self._channel_locks.setdefault(channel_id, asyncio.Lock())

    async def post(self, channel_id: str, result: Result, *, idempotency_key: str) -> PostReceipt:
        """Post an alert or digest, split into parts if long; the first part's ts is the receipt.

        Posts to one channel go out at most one a `post_interval` (Slack allows ~1/s per channel);
        a 429 is waited out by the retry handler, and only reaches the caller as `retry_after` when
        retries are spent.
        """
        messages = render(result)
        receipt: PostReceipt | None = None
        async with await self._paced(channel_id):
            for part, msg in enumerate(messages):
                wait = self._last_post.get(channel_id, 0.0) + self.post_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    response = await self.client.chat_postMessage(
                        channel=channel_id,
                        text=msg.text,
                        blocks=msg.blocks,
                        unfurl_links=False,
                        unfurl_media=False,
                        metadata={
                            "event_type": METADATA_EVENT,
                            "event_payload": {"key": idempotency_key, "part": part, "parts": len(messages)},
                        },
                    )
                except (TimeoutError, SlackApiError, aiohttp.ClientError) as exc:
                    raise delivery_error(exc) from exc
                finally:
                    self._last_post[channel_id] = time.monotonic()
                if receipt is None:
                    receipt = PostReceipt(message_id=str(response["ts"]))
        assert receipt is not None  # render() always returns at least one message
        return receipt

    async def find_posted(self, channel_id: str, idempotency_key: str) -> PostReceipt | None:
        """Look through the channel's recent messages for our metadata carrying this key."""
        return (await self.find_posted_many(channel_id, [idempotency_key])).get(idempotency_key)

    async def find_posted_many(
        self, channel_id: str, keys: list[str], since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, PostReceipt]:
        """{key: receipt} for those of `keys` posted in the channel between `since` and `until`: one history
        lookup for them all, paged at `HISTORY_PAGE` (Slack's cap for apps outside the
        Marketplace, whose history is Tier 1, ~1 call a minute), newest first, stopping as soon as
        every key is found. A 429 is waited out by the retry handler, then raised with its
        Retry-After so the caller waits instead of posting blind."""
        wanted = set(keys)
        found: dict[str, PostReceipt] = {}
        kwargs: dict[str, Any] = {"channel": channel_id, "limit": HISTORY_PAGE, "include_all_metadata": True}
        if since is not None:
            kwargs["oldest"] = f"{(since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp():.6f}"
        if until is not None:
            kwargs["latest"] = f"{(until if until.tzinfo else until.replace(tzinfo=UTC)).timestamp():.6f}"
        seen = 0
        cursor: str | None = None
        while True:
            try:
                response = await self.client.conversations_history(**{**kwargs, **({"cursor": cursor} if cursor else {})})
            except (TimeoutError, SlackApiError, aiohttp.ClientError) as exc:
                raise delivery_error(exc) from exc
            messages = response.get("messages") or []
            seen += len(messages)
            for message in messages:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                key = payload.get("key")
                if metadata.get("event_type") == METADATA_EVENT and key in wanted and int(payload.get("part", 0)) == 0:
                    found[str(key)] = PostReceipt(message_id=str(message["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if len(found) == len(wanted) or not response.get("has_more") or not cursor or seen >= self.history_limit:
                return found
