"""The Discord adapter through the real discord.py client against a fake Discord on loopback.

The client logs in over REST, connects the fake gateway and syncs `/news`; interactions arrive as
gateway INTERACTION_CREATE events exactly as Discord sends them, and replies go to the fake's
interaction callback and followup webhook. Deliveries go through channel messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest

from adapters.base import DeliveryError
from adapters.discord import DiscordAdapter, nonce_for, ref_for
from adapters.discord_embeds import validate
from bot.chat.messages import Context, Item, Result, Section
from tests.fakes.discord_api import APP_ID, BOT_TOKEN, FakeDiscord

Handler = Callable[[str, Context], Awaitable[Result]]

SAMPLE = Result(
    kind="quotes",
    title="What Mark Rutte said",
    sections=(
        Section(
            heading="Last 7 days",
            items=(
                Item(
                    title="NATO summit", url="https://example.org/a", meta="Reuters", body="Support is **irreversible**"
                ),
            ),
        ),
    ),
)


async def wait_for(predicate: Callable[[], bool], deadline: float = 10.0) -> None:
    """Poll until true; the deadline only bounds a failing test, it asserts nothing about speed."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


pytestmark = pytest.mark.usefixtures("restore_discord_urls")


@pytest.fixture
def fake(fake_discord: FakeDiscord) -> FakeDiscord:
    return fake_discord


@pytest.fixture
async def connect(fake: FakeDiscord) -> AsyncIterator[Callable[[Handler], Awaitable[DiscordAdapter]]]:
    started: list[DiscordAdapter] = []

    async def _connect(handler: Handler) -> DiscordAdapter:
        adapter = DiscordAdapter(token=BOT_TOKEN, api_url=fake.api_url, gateway_url=fake.gateway_url)
        await adapter.start(handler)
        started.append(adapter)
        return adapter

    yield _connect
    for adapter in started:
        await adapter.stop()


def interaction(
    sub: str, options: list[dict[str, Any]], *, token: str = "itoken1", permissions: int = 0x800
) -> dict[str, Any]:
    user = {
        "id": "777777777777777777",
        "username": "alice",
        "discriminator": "0",
        "avatar": None,
        "global_name": "Alice",
    }
    return {
        "id": "444444444444444444",
        "application_id": APP_ID,
        "type": 2,
        "token": token,
        "version": 1,
        "guild_id": "555555555555555555",
        "channel_id": "666666666666666666",
        "channel": {
            "id": "666666666666666666",
            "type": 0,
            "name": "newsdesk",
            "guild_id": "555555555555555555",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        },
        "member": {
            "user": user,
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "permissions": str(permissions),
            "flags": 0,
        },
        "app_permissions": str(0x4C00),
        "locale": "en-US",
        "attachment_size_limit": 10485760,
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": "555555555555555555"},
        "context": 0,
        "data": {
            "id": "888888888888888888",
            "name": "news",
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": options}],
        },
    }


async def fixed(text: str, ctx: Context) -> Result:
    return SAMPLE


async def test_start_logs_in_connects_and_syncs_the_news_group(fake: FakeDiscord, connect) -> None:
    adapter = await connect(fixed)
    assert fake.identify["intents"] == discord.Intents(guilds=True).value  # minimal intents
    [news] = fake.commands
    assert news["name"] == "news"
    subs = {o["name"]: o for o in news["options"]}
    assert set(subs) == {"search", "quotes", "figure", "digest", "subscribe", "unsubscribe", "feeds", "status", "help",
                         "story", "track", "untrack", "home"}
    assert subs["quotes"]["options"][0]["name"] == "figure" and subs["quotes"]["options"][0]["required"] is True
    assert subs["status"].get("options", []) == []
    invite = adapter.invite_url
    assert invite and f"client_id={APP_ID}" in invite and "applications.commands" in invite and "bot" in invite


async def test_slash_command_is_deferred_then_answered_by_followup(fake: FakeDiscord, connect) -> None:
    release = asyncio.Event()
    seen: list[tuple[str, Context]] = []

    async def slow(text: str, ctx: Context) -> Result:
        seen.append((text, ctx))
        await release.wait()
        return SAMPLE

    await connect(slow)
    await fake.dispatch("INTERACTION_CREATE", interaction("quotes", [{"name": "figure", "type": 3, "value": "rutte"}]))
    await wait_for(lambda: len(fake.callbacks["itoken1"]) == 1)
    defer = fake.callbacks["itoken1"][0]
    assert defer["type"] == 5 and defer["data"]["flags"] & 64  # deferred, ephemeral, before the answer exists
    assert fake.followups["itoken1"] == []
    release.set()
    await wait_for(lambda: len(fake.followups["itoken1"]) == 1)
    reply = fake.followups["itoken1"][0]
    assert reply["flags"] & 64
    assert not validate(reply["embeds"])
    assert reply["embeds"][0]["title"] == "What Mark Rutte said"
    assert "Support is **irreversible**" in reply["embeds"][0]["description"]
    assert reply["allowed_mentions"]["parse"] == []
    text, ctx = seen[0]
    assert text == "quotes rutte"
    assert ctx == Context(
        platform="discord",
        channel_id="666666666666666666",
        user_id="777777777777777777",
        is_admin=False,
        channel_name="newsdesk",
    )


async def test_manage_server_permission_makes_an_admin(fake: FakeDiscord, connect) -> None:
    seen: list[Context] = []

    async def record(text: str, ctx: Context) -> Result:
        seen.append(ctx)
        return SAMPLE

    await connect(record)
    payload = interaction(
        "feeds", [{"name": "action", "type": 3, "value": "add https://example.org/rss"}], permissions=0x20 | 0x800
    )
    await fake.dispatch("INTERACTION_CREATE", payload)
    await wait_for(lambda: len(seen) == 1)
    assert seen[0].is_admin is True


async def test_public_result_is_posted_to_the_channel(fake: FakeDiscord, connect) -> None:
    async def public(text: str, ctx: Context) -> Result:
        return Result(kind="digest", title="Digest", text="All quiet.", ephemeral=False)

    await connect(public)
    await fake.dispatch("INTERACTION_CREATE", interaction("status", [], token="itoken2"))
    await wait_for(lambda: len(fake.followups["itoken2"]) == 1)
    assert not fake.followups["itoken2"][0].get("flags", 0) & 64
    assert (
        fake.followups["itoken2:original"] == [{"content": "Posted to the channel."}]
        or fake.followups["itoken2:original"][0]["content"] == "Posted to the channel."
    )


async def test_long_answer_becomes_several_followups_within_limits(fake: FakeDiscord, connect) -> None:
    items = tuple(Item(title=f"Story {n}", body="word " * 300) for n in range(60))

    async def long(text: str, ctx: Context) -> Result:
        return Result(kind="search", title="Many", sections=(Section(items=items),))

    await connect(long)
    await fake.dispatch(
        "INTERACTION_CREATE", interaction("search", [{"name": "query", "type": 3, "value": "nato"}], token="itoken3")
    )
    await wait_for(lambda: len(fake.followups["itoken3"]) >= 2)
    await asyncio.sleep(0.2)
    assert 2 <= len(fake.followups["itoken3"]) <= 5
    assert all(not validate(f["embeds"]) for f in fake.followups["itoken3"])


async def test_post_carries_nonce_and_ref_and_find_posted_finds_it(fake: FakeDiscord, connect) -> None:
    adapter = await connect(fixed)
    channel = "999999999999999999"
    assert await adapter.find_posted(channel, "alert:7") is None
    receipt = await adapter.post(channel, SAMPLE, idempotency_key="alert:7")
    [call] = fake.calls(f"POST /channels/{channel}/messages")
    assert call.payload["nonce"] == nonce_for("alert:7", 0) and len(call.payload["nonce"]) <= 25
    assert call.payload["enforce_nonce"] is True
    assert call.payload["embeds"][-1]["footer"]["text"].endswith(f"ref {ref_for('alert:7')}")
    assert await adapter.find_posted(channel, "alert:7") == receipt
    assert await adapter.find_posted(channel, "alert:8") is None


async def test_post_waits_out_a_429_and_posts_exactly_once(fake: FakeDiscord, connect) -> None:
    adapter = await connect(fixed)
    channel = "999999999999999999"
    fake.rate_limit("POST /channels/{id}/messages", retry_after=0.2)
    receipt = await adapter.post(channel, SAMPLE, idempotency_key="alert:9")
    assert len(fake.calls(f"POST /channels/{channel}/messages")) == 2
    assert [m["id"] for m in fake.messages[channel]] == [receipt.message_id]


async def test_repeated_post_with_the_same_key_is_dropped_by_the_nonce(fake: FakeDiscord, connect) -> None:
    adapter = await connect(fixed)
    channel = "999999999999999999"
    first = await adapter.post(channel, SAMPLE, idempotency_key="alert:10")
    second = await adapter.post(channel, SAMPLE, idempotency_key="alert:10")
    assert first == second and len(fake.messages[channel]) == 1


@pytest.mark.parametrize("kind", ["missing", "forbidden"])
async def test_unknown_channel_or_missing_access_is_permanent(fake: FakeDiscord, connect, kind: str) -> None:
    adapter = await connect(fixed)
    channel = "123456789012345678"
    (fake.missing_channels if kind == "missing" else fake.forbidden_channels).add(channel)
    with pytest.raises(DeliveryError) as err:
        await adapter.post(channel, SAMPLE, idempotency_key="k")
    assert err.value.permanent


async def test_a_passing_server_error_is_retried_by_discord_py(fake: FakeDiscord, connect) -> None:
    adapter = await connect(fixed)
    channel = "123456789012345678"
    fake.fail("POST /channels/{id}/messages", 502)
    receipt = await adapter.post(channel, SAMPLE, idempotency_key="k")
    assert len(fake.calls(f"POST /channels/{channel}/messages")) == 2
    assert [m["id"] for m in fake.messages[channel]] == [receipt.message_id]


@pytest.mark.long  # discord.py backs off 1+3+5+7+9 s over its five tries
async def test_a_lasting_server_error_is_transient(fake: FakeDiscord, connect) -> None:
    adapter = await connect(fixed)
    fake.fail("POST /channels/{id}/messages", 500, times=5)
    with pytest.raises(DeliveryError) as err:
        await adapter.post("123456789012345678", SAMPLE, idempotency_key="k")
    assert not err.value.permanent


async def test_a_rejected_payload_is_permanent(fake: FakeDiscord, connect) -> None:
    adapter = await connect(fixed)
    fake.fail("POST /channels/{id}/messages", 400, code=50035)
    with pytest.raises(DeliveryError) as err:
        await adapter.post("123456789012345678", SAMPLE, idempotency_key="k")
    assert err.value.permanent and "50035" in str(err.value)
