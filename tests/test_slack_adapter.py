"""The Slack adapter through the real slack-bolt/slack-sdk clients against a fake Slack on loopback.

Slash commands are signed with the signing secret and posted to the adapter's `/slack/events`
route on a real aiohttp server; answers go to the fake's `response_url`; deliveries go through
`chat.postMessage` and are found again through `conversations.history`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import DeliveryError
from adapters.slack import SlackAdapter
from adapters.slack_blocks import POST_ACTION_ID, validate
from bot.chat.messages import Context, Item, Result, Section
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def sign(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(fake: FakeSlack, text: str, *, token: str = "r1", user: str = "U0ALICE") -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "team_domain": "newsroom",
            "channel_id": "C0NEWS",
            "channel_name": "newsdesk",
            "user_id": user,
            "user_name": "alice",
            "command": "/news",
            "text": text,
            "api_app_id": "A0NEWS",
            "response_url": fake.response_url(token),
            "trigger_id": "1.2.3",
        }
    )


async def wait_for(predicate: Callable[[], bool], deadline: float = 10.0) -> None:
    """Poll until true; the deadline only bounds a failing test, it asserts nothing about speed."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    try:
        yield server
    finally:
        await server.stop()


Handler = Callable[[str, Context], Awaitable[Result]]


@pytest.fixture
async def serve(fake: FakeSlack) -> AsyncIterator[Callable[[Handler], Awaitable[tuple[SlackAdapter, str]]]]:
    """Start an adapter in HTTP mode behind a real aiohttp server; returns (adapter, events URL)."""
    started: list[tuple[SlackAdapter, TestServer]] = []

    async def _serve(handler: Handler) -> tuple[SlackAdapter, str]:
        adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0)
        app = web.Application()
        app.add_routes(adapter.http_routes())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        await adapter.start(handler)
        started.append((adapter, server))
        return adapter, str(server.make_url("/slack/events"))

    yield _serve
    for adapter, server in started:
        await adapter.stop()
        await server.close()


async def post_signed(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.text()


SAMPLE = Result(
    kind="quotes",
    title="What Mark Rutte said",
    sections=(
        Section(
            heading="Last 7 days",
            items=(
                Item(
                    title="NATO summit",
                    url="https://example.org/a?x=1&y=2",
                    meta="Reuters · 2025-06-09",
                    body="Support for Ukraine is **irreversible**",
                ),
            ),
        ),
    ),
)


async def fixed(text: str, ctx: Context) -> Result:
    return SAMPLE


async def test_signed_command_is_acked_before_the_work_and_answered_via_response_url(fake: FakeSlack, serve) -> None:
    release = asyncio.Event()
    seen: list[tuple[str, Context]] = []

    async def slow(text: str, ctx: Context) -> Result:
        seen.append((text, ctx))
        await release.wait()  # the command is still running when the ack must already be out
        return SAMPLE

    _, url = await serve(slow)
    body = command_body(fake, "quotes rutte")
    status, text = await post_signed(url, body, sign(body))
    assert status == 200 and text == ""
    assert fake.responses["r1"] == []  # acked with nothing yet answered
    release.set()
    await wait_for(lambda: len(fake.responses["r1"]) == 1)
    reply = fake.responses["r1"][0]
    assert reply["response_type"] == "ephemeral"
    assert reply["replace_original"] is False
    assert not validate(reply["blocks"])
    rendered = json.dumps(reply["blocks"])
    assert "Support for Ukraine is *irreversible*" in rendered
    assert "<https://example.org/a?x=1&amp;y=2|NATO summit>" in rendered
    button = reply["blocks"][-1]["elements"][0]
    assert button["action_id"] == POST_ACTION_ID and button["value"] == "quotes rutte"
    text_seen, ctx = seen[0]
    assert text_seen == "quotes rutte"
    assert ctx == Context(
        platform="slack", channel_id="C0NEWS", user_id="U0ALICE", is_admin=False, channel_name="newsdesk"
    )


async def test_admin_flag_comes_from_users_info(fake: FakeSlack, serve) -> None:
    fake.admins.add("U0BOSS")
    seen: list[Context] = []

    async def record(text: str, ctx: Context) -> Result:
        seen.append(ctx)
        return SAMPLE

    _, url = await serve(record)
    body = command_body(fake, "subscribe nato", user="U0BOSS")
    assert (await post_signed(url, body, sign(body)))[0] == 200
    await wait_for(lambda: len(seen) == 1)
    assert seen[0].is_admin is True


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: sign(body, secret="not-the-secret"), id="forged"),
        pytest.param(lambda body: sign(body, timestamp=int(time.time()) - 600), id="stale"),
        pytest.param(lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, id="unsigned"),
    ],
)
async def test_forged_stale_or_unsigned_requests_get_401(fake: FakeSlack, serve, headers) -> None:
    calls: list[str] = []

    async def record(text: str, ctx: Context) -> Result:
        calls.append(text)
        return SAMPLE

    _, url = await serve(record)
    body = command_body(fake, "quotes rutte")
    status, _ = await post_signed(url, body, headers(body))
    assert status == 401
    await asyncio.sleep(0.1)
    assert calls == [] and fake.responses["r1"] == []


async def test_public_result_goes_in_channel_without_button(fake: FakeSlack, serve) -> None:
    async def public(text: str, ctx: Context) -> Result:
        return Result(kind="digest", title="Digest", text="All quiet.", ephemeral=False)

    _, url = await serve(public)
    body = command_body(fake, "digest")
    await post_signed(url, body, sign(body))
    await wait_for(lambda: len(fake.responses["r1"]) == 1)
    reply = fake.responses["r1"][0]
    assert reply["response_type"] == "in_channel"
    assert all(b["type"] != "actions" for b in reply["blocks"])


async def test_a_failing_handler_still_answers(fake: FakeSlack, serve) -> None:
    async def broken(text: str, ctx: Context) -> Result:
        raise RuntimeError("boom")

    _, url = await serve(broken)
    body = command_body(fake, "status")
    await post_signed(url, body, sign(body))
    await wait_for(lambda: len(fake.responses["r1"]) == 1)
    assert "Something went wrong" in json.dumps(fake.responses["r1"][0])


async def test_long_answer_is_split_over_response_url_replies(fake: FakeSlack, serve) -> None:
    items = tuple(Item(title=f"Story {n}", body="word " * 700) for n in range(120))

    async def long(text: str, ctx: Context) -> Result:
        return Result(kind="search", title="Many", sections=(Section(items=items),))

    _, url = await serve(long)
    body = command_body(fake, "search nato")
    await post_signed(url, body, sign(body))
    await wait_for(lambda: len(fake.responses["r1"]) >= 3)
    await asyncio.sleep(0.2)
    replies = fake.responses["r1"]
    assert 3 <= len(replies) <= 5
    for reply in replies:
        assert not validate(reply["blocks"])
    texts = json.dumps(replies)
    assert "Story 0" in texts and "Story 99" in texts


async def test_post_to_channel_button_reruns_and_posts_in_channel(fake: FakeSlack, serve) -> None:
    seen: list[tuple[str, Context]] = []

    async def record(text: str, ctx: Context) -> Result:
        seen.append((text, ctx))
        return SAMPLE

    _, url = await serve(record)
    payload = {
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": {"id": "U0ALICE", "name": "alice"},
        "api_app_id": "A0NEWS",
        "token": "legacy",
        "container": {"type": "message", "is_ephemeral": True},
        "trigger_id": "1.2.3",
        "channel": {"id": "C0NEWS", "name": "newsdesk"},
        "response_url": fake.response_url("r2"),
        "actions": [
            {
                "type": "button",
                "action_id": POST_ACTION_ID,
                "block_id": "b",
                "value": "quotes rutte",
                "action_ts": "1700000000.1",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    status, _ = await post_signed(url, body, sign(body))
    assert status == 200
    await wait_for(lambda: len(fake.responses["r2"]) == 2)
    posted, deleted = fake.responses["r2"]
    assert posted["response_type"] == "in_channel"
    assert all(b["type"] != "actions" for b in posted["blocks"])
    assert deleted.get("delete_original") is True
    assert seen[0][0] == "quotes rutte" and seen[0][1].channel_id == "C0NEWS"


async def test_post_puts_key_in_metadata_and_find_posted_finds_it(fake: FakeSlack) -> None:
    adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0)
    assert await adapter.find_posted("C0ALERTS", "alert:42") is None
    receipt = await adapter.post("C0ALERTS", SAMPLE, idempotency_key="alert:42")
    call = fake.calls("chat.postMessage")[0].payload
    assert call["metadata"]["event_type"] == "newsbot_delivery"
    assert call["metadata"]["event_payload"]["key"] == "alert:42"
    assert call["text"]  # notification fallback
    assert await adapter.find_posted("C0ALERTS", "alert:42") == receipt
    assert await adapter.find_posted("C0ALERTS", "alert:43") is None
    history = fake.calls("conversations.history")[-1].payload
    assert str(history["include_all_metadata"]).lower() in ("1", "true")


async def test_post_waits_out_a_429_and_posts_exactly_once(fake: FakeSlack) -> None:
    adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0)
    fake.rate_limit("chat.postMessage", retry_after=0)
    receipt = await adapter.post("C0ALERTS", SAMPLE, idempotency_key="alert:1")
    assert len(fake.calls("chat.postMessage")) == 2  # the 429, then the retry
    assert [m["ts"] for m in fake.messages["C0ALERTS"]] == [receipt.message_id]


async def test_persistent_429_becomes_retry_after(fake: FakeSlack) -> None:
    adapter = SlackAdapter(
        bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0, rate_limit_retries=1
    )
    fake.rate_limit("chat.postMessage", retry_after=0, times=2)
    with pytest.raises(DeliveryError) as err:
        await adapter.post("C0ALERTS", SAMPLE, idempotency_key="alert:1")
    assert err.value.retry_after == 0 and not err.value.permanent
    assert fake.messages["C0ALERTS"] == []


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived", "account_inactive"])
async def test_rejected_for_good_is_permanent(fake: FakeSlack, error: str) -> None:
    adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0)
    fake.fail("chat.postMessage", error)
    with pytest.raises(DeliveryError) as err:
        await adapter.post("C0GONE", SAMPLE, idempotency_key="k")
    assert err.value.permanent and error in str(err.value)


async def test_transient_error_is_not_permanent(fake: FakeSlack) -> None:
    adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0)
    fake.fail("chat.postMessage", "internal_error")
    with pytest.raises(DeliveryError) as err:
        await adapter.post("C0NEWS", SAMPLE, idempotency_key="k")
    assert not err.value.permanent


async def test_unreachable_slack_is_a_transient_delivery_error() -> None:
    adapter = SlackAdapter(
        bot_token=BOT_TOKEN, signing_secret=SECRET, api_url="http://127.0.0.1:9/api/", post_interval=0
    )
    with pytest.raises(DeliveryError) as err:
        await adapter.post("C0NEWS", SAMPLE, idempotency_key="k")
    assert not err.value.permanent


async def test_posts_to_one_channel_are_paced_in_order(fake: FakeSlack) -> None:
    adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0.05)
    results = [Result(kind="alert", title=f"Alert {n}") for n in range(4)]
    await asyncio.gather(*(adapter.post("C0A", r, idempotency_key=f"k{n}") for n, r in enumerate(results)))
    keys = [m["metadata"]["event_payload"]["key"] for m in fake.messages["C0A"]]
    assert sorted(keys) == ["k0", "k1", "k2", "k3"] and len(keys) == 4


def test_http_mode_needs_a_signing_secret() -> None:
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        SlackAdapter(bot_token=BOT_TOKEN)


def mention_body(text: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0NEWS",
            "type": "event_callback",
            "event_id": "Ev0001",
            "event_time": 1700000001,
            "event": {
                "type": "app_mention",
                "user": "U0ALICE",
                "text": text,
                "ts": "1700000001.000100",
                "channel": "C0NEWS",
                "event_ts": "1700000001.000100",
            },
        }
    )


@pytest.mark.parametrize("ephemeral", [True, False])
async def test_app_mention_runs_the_command_and_answers_in_thread(fake: FakeSlack, serve, ephemeral: bool) -> None:
    seen: list[str] = []

    async def record(text: str, ctx: Context) -> Result:
        seen.append(text)
        return Result(kind="quotes", title="Quotes", text="said **this**", ephemeral=ephemeral)

    _, url = await serve(record)
    body = mention_body("<@U0BOT> quotes rutte")
    headers = {**sign(body), "Content-Type": "application/json"}
    assert (await post_signed(url, body, headers))[0] == 200
    if ephemeral:
        await wait_for(lambda: len(fake.ephemeral["C0NEWS"]) == 1)
        sent = fake.ephemeral["C0NEWS"][0]
        assert sent["user"] == "U0ALICE"
    else:
        await wait_for(lambda: len(fake.messages["C0NEWS"]) == 1)
        sent = fake.calls("chat.postMessage")[0].payload
    assert sent["thread_ts"] == "1700000001.000100"
    assert "said *this*" in json.dumps(sent["blocks"])
    assert seen == ["quotes rutte"]


def test_manifest_declares_what_the_adapter_serves() -> None:
    import yaml

    from tests.conftest import ROOT

    manifest = yaml.safe_load((ROOT / "config" / "slack-app-manifest.yaml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/news" and command["url"].endswith("/slack/events")
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # post, find_posted (history), admin check, the slash command, mentions
    assert {"commands", "chat:write", "channels:history", "groups:history", "users:read", "app_mentions:read"} <= scopes
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] and settings["interactivity"]["request_url"].endswith(
        "/slack/events"
    )
    assert settings["event_subscriptions"]["bot_events"] == ["app_mention", "app_home_opened"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


async def test_socket_mode_receives_a_command_acks_the_envelope_and_answers(fake: FakeSlack) -> None:
    seen: list[tuple[str, Context]] = []

    async def record(text: str, ctx: Context) -> Result:
        seen.append((text, ctx))
        return SAMPLE

    adapter = SlackAdapter(bot_token=BOT_TOKEN, app_token=APP_TOKEN, api_url=fake.api_url, post_interval=0)
    assert adapter.socket_mode
    await adapter.start(record)
    try:
        await wait_for(lambda: fake.socket_connected)
        command = dict(parse_qsl(command_body(fake, "quotes rutte", token="s1")))
        await fake.socket_send(
            {"envelope_id": "env-1", "type": "slash_commands", "payload": command, "accepts_response_payload": True}
        )
        # bolt sends the envelope's ack when its listener runner sees ack() called, which can be after
        # a fast listener has already answered through response_url: wait for both, in either order.
        await wait_for(lambda: len(fake.responses["s1"]) == 1 and len(fake.socket_acks) >= 1)
        assert [a["envelope_id"] for a in fake.socket_acks] == ["env-1"]
        assert fake.responses["s1"][0]["response_type"] == "ephemeral"
        assert seen[0][0] == "quotes rutte" and seen[0][1].channel_id == "C0NEWS"
    finally:
        await adapter.stop()
