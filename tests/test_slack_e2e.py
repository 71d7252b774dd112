"""End to end through the real pieces: the command core over a seeded archive (SQLite and
PostgreSQL), the bot's own HTTP server, the delivery worker, and the real Slack and Discord SDKs
talking to the fake platforms on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.discord import DiscordAdapter, ref_for
from adapters.slack import SlackAdapter
from adapters.slack_blocks import validate
from bot.app.http import make_app
from bot.archive.seed import load_seeds
from bot.chat.channels import sync_config_channels
from bot.chat.delivery import DeliveryOptions, DeliveryWorker
from bot.chat.messages import Context, Result
from bot.commands.core import Deps, make_handler
from bot.config import AlertRule, AppConfig, ChannelConfig
from bot.store.models import Channel, Delivery
from tests.fakes.discord_api import BOT_TOKEN as DISCORD_TOKEN
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.slack_api import BOT_TOKEN as SLACK_TOKEN
from tests.fakes.slack_api import FakeSlack
from tests.test_slack_adapter import SECRET, command_body, post_signed, sign

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DISCORD_CHANNEL = "999999999999999999"


async def wait_for(predicate: Callable[[], bool], deadline: float = 20.0) -> None:
    """Poll until true; the deadline only bounds a failing test, it asserts nothing about speed."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


pytestmark = pytest.mark.usefixtures("restore_discord_urls")


async def test_signed_news_quotes_rutte_is_acked_and_answered_from_the_archive(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, fake_slack: FakeSlack
) -> None:
    await load_seeds(sessions, SEEDS, app_config)
    adapter = SlackAdapter(bot_token=SLACK_TOKEN, signing_secret=SECRET, api_url=fake_slack.api_url)

    async def health() -> dict[str, str]:
        return {"status": "ok"}

    server = TestServer(make_app(health, adapter.http_routes()), host="127.0.0.1")
    await server.start_server()
    await adapter.start(make_handler(Deps.build(sessions, app_config)))
    try:
        url = str(server.make_url("/slack/events"))
        body = command_body(fake_slack, "quotes rutte")
        status, text = await post_signed(url, body, sign(body))
        assert (status, text) == (200, "")
        await wait_for(lambda: len(fake_slack.responses["r1"]) >= 1)
        reply = fake_slack.responses["r1"][0]
        assert reply["response_type"] == "ephemeral" and not validate(reply["blocks"])
        rendered = json.dumps(reply["blocks"], ensure_ascii=False)
        assert "Rutte" in reply["blocks"][0]["text"]["text"]
        # the seeded statements, one section each, and how to get the next page
        assert sum(b["type"] == "section" for b in reply["blocks"]) >= 5
        assert "`/news quotes rutte page:2`" in rendered
        assert reply["blocks"][-1]["elements"][0]["value"] == "quotes rutte"

        forged = command_body(fake_slack, "quotes rutte", token="r2")
        assert (await post_signed(url, forged, sign(forged, secret="wrong")))[0] == 401
        stale = command_body(fake_slack, "quotes rutte", token="r3")
        assert (await post_signed(url, stale, sign(stale, timestamp=int(time.time()) - 3600)))[0] == 401
        await asyncio.sleep(0.2)
        assert fake_slack.responses["r2"] == [] and fake_slack.responses["r3"] == []
    finally:
        await adapter.stop()
        await server.close()


async def _no_commands(text: str, ctx: Context) -> Result:
    raise AssertionError("no commands in this test")


async def test_alerts_reach_slack_and_discord_exactly_once_through_a_429(
    sessions: async_sessionmaker[AsyncSession],
    app_config: AppConfig,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,
) -> None:
    rule = AlertRule(figures=["Mark Rutte"])
    config = app_config.model_copy(
        update={
            "channels": [
                ChannelConfig(platform="slack", id="C0ALERTS", alerts=rule),
                ChannelConfig(platform="discord", id=DISCORD_CHANNEL, alerts=rule),
            ]
        }
    )
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    await load_seeds(sessions, SEEDS, config)
    async with sessions() as s:
        queued = (await s.execute(select(Delivery.idempotency_key, Channel.platform).join(Channel))).all()
    slack_keys = sorted(k for k, p in queued if p == "slack")
    discord_keys = sorted(k for k, p in queued if p == "discord")
    assert slack_keys and discord_keys

    slack = SlackAdapter(bot_token=SLACK_TOKEN, signing_secret=SECRET, api_url=fake_slack.api_url, post_interval=0)
    disc = DiscordAdapter(token=DISCORD_TOKEN, api_url=fake_discord.api_url, gateway_url=fake_discord.gateway_url)
    await slack.start(_no_commands)
    await disc.start(_no_commands)
    fake_slack.rate_limit("chat.postMessage", retry_after=0)
    fake_discord.rate_limit("POST /channels/{id}/messages", retry_after=0.2)
    try:
        worker = DeliveryWorker(
            sessions,
            {"slack": slack, "discord": disc},
            figures=config.figure_list(),
            options=DeliveryOptions(pace_s={"slack": 0.0, "discord": 0.0}, poll_s=0.05, backoff_base_s=0.01),
        )
        await worker.drain()
        await worker.drain()  # a second pass finds nothing left to post
    finally:
        await slack.stop()
        await disc.stop()

    assert all(r.payload.get("metadata") for r in fake_slack.calls("chat.postMessage"))
    posted_slack = sorted(m["metadata"]["event_payload"]["key"] for m in fake_slack.messages["C0ALERTS"])
    assert posted_slack == slack_keys  # each exactly once
    assert len(fake_slack.calls("chat.postMessage")) == len(slack_keys) + 1  # the one 429, retried

    footers = [m["embeds"][-1]["footer"]["text"] for m in fake_discord.messages[DISCORD_CHANNEL]]
    assert sorted(f.rsplit("ref ", 1)[1] for f in footers) == sorted(ref_for(k) for k in discord_keys)
    assert len(fake_discord.calls(f"POST /channels/{DISCORD_CHANNEL}/messages")) == len(discord_keys) + 1

    async with sessions() as s:
        rows = (await s.execute(select(Delivery))).scalars().all()
    assert {r.status for r in rows} == {"sent"} and all(r.platform_message_id for r in rows)
    slack_ts = {m["ts"] for m in fake_slack.messages["C0ALERTS"]}
    discord_ids = {m["id"] for m in fake_discord.messages[DISCORD_CHANNEL]}
    assert {r.platform_message_id for r in rows} == slack_ts | discord_ids
