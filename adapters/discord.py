"""Discord adapter: discord.py's app-command tree translating `/news` and embeds to and from the core.

`/news` is one app-command group whose subcommands mirror the core's (their descriptions come from
the parser's specs, so the two cannot drift). Every invocation is deferred first (Discord allows
3 seconds for the first response; the interaction token then lives 15 minutes) and answered with
followups, ephemeral unless the result is meant for the channel. Intents are minimal (guilds only:
slash commands need no message content), and the invite URL with the scopes and permissions the
bot needs is logged at start-up.

Outgoing posts carry the delivery's idempotency key twice: as the message `nonce` (discord.py sends
`enforce_nonce`, so Discord itself drops a repeat within minutes) and as a short `ref` in the last
embed's footer, which `find_posted` looks for in the channel's recent messages (Discord does not
return nonces when listing them). discord.py waits out 429s per bucket and globally; channels that
are gone or closed to the bot become `DeliveryError(permanent=True)`. No business logic here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.base import CommandHandler, DeliveryError, PostReceipt
from adapters.discord_embeds import discord_mention, render
from bot.chat.messages import Context, Result
from bot.commands.parser import SPECS

if TYPE_CHECKING:
    from bot.chat.ports import PlatformSettings

log = logging.getLogger(__name__)

FOLLOWUPS_MAX = 5  # a reply longer than this many messages is cut with a note
HISTORY_LIMIT = 50
AUTOCOMPLETE = ("quotes", "figure", "digest", "subscribe", "unsubscribe", "untrack")  # via the core's `complete`
BUTTON_PREFIX = "newsbot:"  # + the /news command a button runs
CUSTOM_ID_MAX = 100
BUTTONS_MAX = 25  # 5 action rows of 5
MENTION_ONLY = discord.AllowedMentions(everyone=True, roles=True, users=True)  # for a subscription's mention
# Discord JSON error codes no retry can fix: unknown channel, missing access, cannot DM,
# missing permissions, invalid form body (our rendering bug), channel is archived thread.
PERMANENT_CODES = frozenset({10003, 50001, 50007, 50013, 50035, 50083, 10008})
# What the bot needs in a channel: see it, post, embed links, read history (for find_posted).
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, read_message_history=True
)

# Subcommands and their free-text option: (option name, description, required).
OPTIONS: dict[str, tuple[str, str, bool] | None] = {
    "search": ("query", 'words, "phrases", -exclude, topic:nato, source:reuters, since:7d', True),
    "quotes": ("figure", "who, and filters: rutte since:7d topic:ukraine", True),
    "figure": ("name", "a tracked figure: rutte, zelensky, trump", True),
    "digest": ("options", "topics and since: nato since:24h", False),
    "subscribe": ("what", 'figure:, topic:, keyword:, feed:URL|NAME; alerts: digest: stream: include: match:', False),
    "unsubscribe": ("what", "figure:NAME, topic:NAME, keyword:WORDS, feed:URL|NAME or all", False),
    "feeds": ("action", "list, add URL, remove URL-or-ID (add/remove: admins)", False),
    "status": None,
    "home": None,
    "story": ("story", "a story like s12, or an article like a345", True),
    "track": ("name", 'a person: Kaja Kallas alias:Kallas title:"EU foreign policy chief" (admins)', True),
    "untrack": ("name", "a person tracked with track (admins)", True),
    "help": ("subcommand", "a subcommand to explain", False),
}


def ref_for(key: str) -> str:
    """The short marker shown in the footer: 12 hex digits of the key's hash."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def nonce_for(key: str, part: int) -> str:
    """Discord nonces are at most 25 characters: 20 of the hash, a dash, the part number."""
    return f"{hashlib.sha256(key.encode()).hexdigest()[:20]}-{part}"


def delivery_error(exc: Exception) -> DeliveryError:
    """Map a failed REST call to the delivery worker's vocabulary."""
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(f"discord: rate limited for {exc.retry_after:.1f}s", retry_after=exc.retry_after)
    if isinstance(exc, discord.HTTPException):
        permanent = isinstance(exc, discord.Forbidden | discord.NotFound) or exc.code in PERMANENT_CODES
        return DeliveryError(f"discord: {exc.status} {exc.code}: {exc.text}", permanent=permanent)
    return DeliveryError(f"discord: {type(exc).__name__}: {exc}")


def buttons_view(result: Result) -> discord.ui.View | None:
    """The result's item buttons as one Discord view (≤5 rows of 5); custom ids carry the command."""
    view = discord.ui.View(timeout=None)
    for action in (a for sec in result.sections for item in sec.items for a in item.actions):
        custom_id = BUTTON_PREFIX + action.command
        if len(custom_id) > CUSTOM_ID_MAX or len(view.children) >= BUTTONS_MAX:
            continue
        view.add_item(discord.ui.Button(label=action.label[:80], custom_id=custom_id,
                                        style=discord.ButtonStyle.secondary))
    return view if view.children else None


def is_admin(interaction: discord.Interaction[Any]) -> bool:
    """Discord sets default permissions on top-level commands only, so admin subcommands of `/news`
    are gated on the asker's resolved permissions in the channel: Manage Server (or Administrator)."""
    perms = interaction.permissions
    return bool(perms.manage_guild or perms.administrator)


class DiscordAdapter:
    """One bot user on Discord. Build with `from_settings`; `start(handle)` connects and syncs `/news`."""

    platform = "discord"

    def __init__(
        self,
        *,
        token: str,
        api_url: str | None = None,
        gateway_url: str | None = None,
        sync_commands: bool = True,
        ready_timeout: float = 60.0,
        max_ratelimit_timeout: float = 60.0,
    ) -> None:
        if api_url:
            discord.http.Route.BASE = api_url.rstrip("/")
        if gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
        self.token = token
        self.sync_commands = sync_commands
        self.ready_timeout = ready_timeout
        self.client = discord.Client(
            intents=discord.Intents(guilds=True),
            max_ratelimit_timeout=max_ratelimit_timeout,
            guild_ready_timeout=0.5,
        )
        self.tree = app_commands.CommandTree(self.client)
        self.tree.add_command(self._build_group())
        self._handle: CommandHandler | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self.client.event(self.on_interaction)  # buttons on posted alerts and digests

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> DiscordAdapter:
        if settings.discord_bot_token is None:
            raise ValueError("DISCORD_BOT_TOKEN is not set")
        return cls(
            token=settings.discord_bot_token.get_secret_value(),
            api_url=settings.discord_api_url,
            gateway_url=settings.discord_gateway_url,
        )

    # --- the command group -----------------------------------------------------------------
    def _build_group(self) -> app_commands.Group:
        group = app_commands.Group(
            name="news", description="Search the news archive, quotes, digests and alerts", guild_only=True
        )
        for name, spec in SPECS.items():
            if spec.hidden:
                continue
            option = OPTIONS.get(name, ("args", spec.usage, spec.needs_args))
            callback = self._callback(name, option)
            group.add_command(
                app_commands.Command(name=name, description=spec.summary[:100], callback=callback, parent=group)
            )
        return group

    def _callback(self, name: str, option: tuple[str, str, bool] | None) -> Any:
        """A callback per subcommand: discord.py reads the option from the function's signature."""
        adapter = self
        if option is None:

            async def bare(interaction: discord.Interaction) -> None:
                await adapter._invoke(interaction, name)

            return bare
        param, description, required = option
        if required:

            async def with_arg(interaction: discord.Interaction, value: str) -> None:
                await adapter._invoke(interaction, f"{name} {value}")

            callback: Any = with_arg
        else:

            async def optional_arg(interaction: discord.Interaction, value: str | None = None) -> None:
                await adapter._invoke(interaction, f"{name} {value or ''}".strip())

            callback = optional_arg
        if name in AUTOCOMPLETE:
            callback = app_commands.autocomplete(value=self._completer(name))(callback)
        callback = app_commands.rename(value=param)(callback)
        return app_commands.describe(value=description[:100])(callback)

    def _completer(self, name: str) -> Any:
        """Autocomplete for one subcommand's option: the core's `complete` answers, Discord shows it."""
        adapter = self

        async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            ctx = Context(platform="discord", channel_id=str(interaction.channel_id or ""),
                          user_id=str(interaction.user.id), is_admin=is_admin(interaction))
            result = await adapter._run(f"complete {name} {current}".strip(), ctx)
            return [app_commands.Choice(name=s[:100], value=s[:100]) for s in result.suggestions[:25] if s]

        return complete

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A click on a button of a posted alert or digest: its custom id carries a /news command, run as
        the person who clicked (their permissions in this channel), answered only to them."""
        if interaction.type is not discord.InteractionType.component:
            return  # slash commands are the command tree's
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id") or "")
        if custom_id.startswith(BUTTON_PREFIX):
            await self._invoke(interaction, custom_id[len(BUTTON_PREFIX):])

    async def _invoke(self, interaction: discord.Interaction, text: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        await interaction.response.defer(ephemeral=True, thinking=True)
        ctx = Context(
            platform="discord",
            channel_id=str(interaction.channel_id or ""),
            user_id=str(interaction.user.id),
            is_admin=is_admin(interaction),
            channel_name=getattr(interaction.channel, "name", None),
        )
        result = await self._run(text, ctx)
        messages = render(result, max_messages=FOLLOWUPS_MAX)
        try:
            if not result.ephemeral:
                # the deferred "thinking" message is ephemeral; say where the answer went, then post it
                await interaction.edit_original_response(content="Posted to the channel.")
            for embeds in messages:
                await interaction.followup.send(
                    embeds=[discord.Embed.from_dict(e) for e in embeds],
                    ephemeral=result.ephemeral,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("discord: followup failed for %r: %s", text, exc)

    async def _run(self, text: str, ctx: Context) -> Result:
        if self._handle is None:
            return Result(kind="error", title="newsbot is starting", text="Try again in a moment.", ok=False)
        try:
            return await self._handle(text, ctx)
        except Exception:
            log.exception("discord: command failed: %r", text)
            return Result(kind="error", title="Something went wrong", text="The error was logged.", ok=False)

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def invite_url(self) -> str | None:
        app_id = self.client.application_id
        if app_id is None:
            return None
        return discord.utils.oauth_url(app_id, permissions=BOT_PERMISSIONS, scopes=("bot", "applications.commands"))

    async def start(self, handle: CommandHandler) -> None:
        """Log in, connect the gateway, wait for READY, sync `/news`; raises if the gateway fails."""
        self._handle = handle
        try:
            await self.client.login(self.token)
            self._connect_task = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway")
            ready = asyncio.create_task(self.client.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, self._connect_task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                if self._connect_task in done:
                    self._connect_task.result()  # raises the gateway's error
                raise TimeoutError(f"discord: gateway not ready after {self.ready_timeout:.0f}s")
            if self.sync_commands:
                await self.tree.sync()
        except BaseException:
            await self.stop()
            raise
        log.info("discord: connected as %s; invite the bot with %s", self.client.user, self.invite_url)

    async def stop(self) -> None:
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=10)
        await self.client.close()
        if self._connect_task is not None:
            await asyncio.gather(self._connect_task, return_exceptions=True)
        self._handle = None

    # --- delivery out ----------------------------------------------------------------------
    async def post(self, channel_id: str, result: Result, *, idempotency_key: str) -> PostReceipt:
        """Post an alert or digest, split into messages if long; the receipt is the last message's id
        (the one carrying the footer ref, so `find_posted` returns the same id)."""
        channel = self.client.get_partial_messageable(int(channel_id))
        receipt: PostReceipt | None = None
        messages = render(result, ref=ref_for(idempotency_key))
        for part, embeds in enumerate(messages):
            try:
                ping = discord_mention(result.mention) if part == 0 else None
                view = buttons_view(result) if part == len(messages) - 1 else None
                message = await channel.send(
                    content=ping,
                    embeds=[discord.Embed.from_dict(e) for e in embeds],
                    view=view or discord.utils.MISSING,
                    nonce=nonce_for(idempotency_key, part),
                    # only the subscription's own mention pings; nothing inside the news text does
                    allowed_mentions=MENTION_ONLY if ping else discord.AllowedMentions.none(),
                )
            except (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, TimeoutError) as exc:
                raise delivery_error(exc) from exc
            receipt = PostReceipt(message_id=str(message.id))
        assert receipt is not None  # render() always returns at least one message
        return receipt

    async def find_posted(self, channel_id: str, idempotency_key: str) -> PostReceipt | None:
        """Look for our footer `ref` among the channel's recent messages by this bot."""
        return (await self.find_posted_many(channel_id, [idempotency_key])).get(idempotency_key)

    async def find_posted_many(
        self, channel_id: str, keys: list[str], since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, PostReceipt]:
        """{key: receipt} for those of `keys` whose footer `ref` is among this bot's messages in the
        channel between `since` and `until`: one history walk (newest first) for them all.

        The ref sits in the last message of a multi-part post, so finding it means the whole post
        went out; the receipt is that message's id.
        """
        channel = self.client.get_partial_messageable(int(channel_id))
        markers = {f"ref {ref_for(key)}": key for key in keys}
        found: dict[str, PostReceipt] = {}
        me = self.client.user.id if self.client.user else None
        after = (since if since.tzinfo else since.replace(tzinfo=UTC)) if since is not None else None
        before = (until if until.tzinfo else until.replace(tzinfo=UTC)) if until is not None else None
        limit = HISTORY_LIMIT if after is None else HISTORY_LIMIT * 4
        try:
            async for message in channel.history(limit=limit, after=after, before=before, oldest_first=False):
                if me is not None and message.author.id != me:
                    continue
                for e in message.embeds:
                    footer = e.footer.text or ""
                    key = next((k for m, k in markers.items() if footer.endswith(m)), None)
                    if key is not None:
                        found[key] = PostReceipt(message_id=str(message.id))
                if len(found) == len(markers):
                    break
        except (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, TimeoutError) as exc:
            raise delivery_error(exc) from exc
        return found
