"""Interactive chat: buttons on alerts and digests (posted with the message; a click runs their command
through the one core as the person who clicked, with the same permission checks as typing it,
acknowledged at once), Slack's Home tab, Discord autocomplete. Through slack-bolt and discord.py
against the loopback fakes, over a real archive."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from adapters.discord import DiscordAdapter
from adapters.slack import SlackAdapter
from adapters.slack_blocks import COMMAND_ACTION_PREFIX
from bot.chat.alerts import render_alert
from bot.chat.channels import Interest, get_or_create_channel, set_interest
from bot.chat.messages import Result
from bot.commands.core import make_handler
from bot.commands.handlers import Deps
from bot.store.models import Article, Channel, Subscription
from tests.fakes.discord_api import BOT_TOKEN as DISCORD_TOKEN
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.test_commands import deps, seeded_pg, seeded_sqlite, seeded_url
from tests.test_discord_adapter import interaction
from tests.test_slack_adapter import SECRET, post_signed, sign, wait_for

__all__ = ["deps", "seeded_pg", "seeded_sqlite", "seeded_url"]  # fixtures shared with test_commands

SLACK_CHANNEL = "C0NEWS"
DISCORD_CHANNEL = "666666666666666666"


async def _alert(deps: Deps) -> Result:
    """An alert for a Rutte statement in the archive, as the outbox payload renders it."""
    async with deps.sessions() as s:
        article = (await s.execute(select(Article).where(Article.text.contains("Rutte")).limit(1))).scalar_one()
    payload = {"speaker": "Mark Rutte", "text": "We stand together", "kind": "direct", "article_id": article.id,
               "title": article.title, "url": "https://example.org/rutte", "outlets": 1}
    return render_alert(payload, deps.figures.figures)


async def _subscribe(deps: Deps, platform: str, channel: str) -> None:
    async with deps.sessions.begin() as s:
        ch = await get_or_create_channel(s, platform, channel)
        await set_interest(s, ch, Interest("figure", "Mark Rutte"))


async def _subscribed(deps: Deps, platform: str, channel: str) -> bool:
    async with deps.sessions() as s:
        return (await s.execute(
            select(Subscription.id).join(Channel, Channel.id == Subscription.channel_id)
            .where(Channel.platform == platform, Channel.external_id == channel, Subscription.value == "Mark Rutte")
        )).first() is not None


def _click(fake: FakeSlack, value: str, token: str, user: str = "U0ALICE") -> str:
    payload = {
        "type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user, "name": "alice"},
        "api_app_id": "A0NEWS", "token": "legacy", "container": {"type": "message", "is_ephemeral": False},
        "trigger_id": "1.2.3", "channel": {"id": SLACK_CHANNEL, "name": "newsdesk"},
        "response_url": fake.response_url(token),
        "actions": [{"type": "button", "action_id": f"{COMMAND_ACTION_PREFIX}:0", "block_id": "b", "value": value,
                     "action_ts": "1700000000.1"}],
    }
    return urlencode({"payload": json.dumps(payload)})


@pytest.fixture
async def slack(deps: Deps) -> AsyncIterator[tuple[FakeSlack, SlackAdapter, str]]:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    fake = await FakeSlack().start()
    adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url, post_interval=0)
    app = web.Application()
    app.add_routes(adapter.http_routes())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    await adapter.start(make_handler(deps))
    try:
        yield fake, adapter, str(server.make_url("/slack/events"))
    finally:
        await adapter.stop()
        await server.close()
        await fake.stop()


async def test_slack_alert_buttons_run_commands_as_the_clicker(deps: Deps, slack: Any) -> None:
    fake, adapter, url = slack
    await _subscribe(deps, "slack", SLACK_CHANNEL)
    await adapter.post(SLACK_CHANNEL, await _alert(deps), idempotency_key="alert:1:1")
    [posted] = fake.messages[SLACK_CHANNEL]
    buttons = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["value"]) for b in buttons][:2] == [
        ("Mute Rutte here", "unsubscribe figure:Mark Rutte"), ("All outlets", buttons[1]["value"])]
    assert buttons[1]["value"].startswith("story a")

    # "All outlets": answered to the clicker only
    body = _click(fake, buttons[1]["value"], "r-outlets")
    status, _ = await post_signed(url, body, sign(body))
    assert status == 200
    await wait_for(lambda: len(fake.responses["r-outlets"]) == 1)
    reply = fake.responses["r-outlets"][0]
    assert reply["response_type"] == "ephemeral" and "outlet" in reply["text"]

    # "Mute Rutte here": the channel's subscription is gone, said in the channel
    body = _click(fake, buttons[0]["value"], "r-mute")
    status, _ = await post_signed(url, body, sign(body))
    assert status == 200
    await wait_for(lambda: len(fake.responses["r-mute"]) == 1)
    assert "Unsubscribed" in fake.responses["r-mute"][0]["text"]
    assert not await _subscribed(deps, "slack", SLACK_CHANNEL)


async def test_slack_button_is_checked_like_the_typed_command(deps: Deps, slack: Any) -> None:
    fake, _adapter, url = slack
    body = _click(fake, "feeds remove #1", "r-denied", user="U0BOB")
    status, _ = await post_signed(url, body, sign(body))
    assert status == 200
    await wait_for(lambda: len(fake.responses["r-denied"]) == 1)
    assert "Admins only" in fake.responses["r-denied"][0]["text"]
    fake.admins.add("U0CAROL")
    body = _click(fake, "track Kristen Michal", "r-admin", user="U0CAROL")
    status, _ = await post_signed(url, body, sign(body))
    await wait_for(lambda: len(fake.responses["r-admin"]) == 1)
    assert "Tracking Kristen Michal" in fake.responses["r-admin"][0]["text"]


@pytest.mark.usefixtures("restore_discord_urls")
async def test_discord_alert_buttons_are_components_and_clicks_run_commands(deps: Deps, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    await _subscribe(deps, "discord", DISCORD_CHANNEL)
    adapter = DiscordAdapter(token=DISCORD_TOKEN, api_url=fake.api_url, gateway_url=fake.gateway_url)
    await adapter.start(make_handler(deps))
    try:
        await adapter.post(DISCORD_CHANNEL, await _alert(deps), idempotency_key="alert:1:2")
        [call] = fake.calls(f"POST /channels/{DISCORD_CHANNEL}/messages")
        buttons = [c for row in call.payload["components"] for c in row["components"]]
        assert buttons[0]["label"] == "Mute Rutte here" and buttons[0]["custom_id"] == "newsbot:unsubscribe figure:Mark Rutte"

        click: dict[str, Any] = interaction("quotes", [], token="click1")
        click.update(type=3, data={"custom_id": buttons[0]["custom_id"], "component_type": 2})
        await fake.dispatch("INTERACTION_CREATE", click)
        await wait_for(lambda: len(fake.followups["click1"]) == 1)
        defer = fake.callbacks["click1"][0]
        assert defer["type"] == 5  # acknowledged before the work
        assert "Unsubscribed" in json.dumps(fake.followups["click1"][0])
        assert not await _subscribed(deps, "discord", DISCORD_CHANNEL)

        denied: dict[str, Any] = interaction("quotes", [], token="click2", permissions=0x800)
        denied.update(type=3, data={"custom_id": "newsbot:feeds remove #1", "component_type": 2})
        await fake.dispatch("INTERACTION_CREATE", denied)
        await wait_for(lambda: len(fake.followups["click2"]) == 1)
        assert "Admins only" in json.dumps(fake.followups["click2"][0])
    finally:
        await adapter.stop()


async def test_slack_home_tab_shows_channels_subscriptions_figures_and_feeds(deps: Deps, slack: Any) -> None:
    fake, _adapter, url = slack
    await _subscribe(deps, "slack", SLACK_CHANNEL)
    async with deps.sessions.begin() as s:
        ch = await get_or_create_channel(s, "slack", SLACK_CHANNEL, "newsdesk")
        await set_interest(s, ch, Interest("topic", "nato", alerts=False, digest=True, digest_cron="0 8 * * *",
                                           timezone="UTC"))
    body = json.dumps({
        "token": "legacy", "team_id": "T0001", "api_app_id": "A0NEWS", "type": "event_callback",
        "event_id": "Ev0002", "event_time": 1700000002,
        "event": {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0HOME", "tab": "home",
                  "event_ts": "1700000002.000100"},
    })
    status, _ = await post_signed(url, body, {**sign(body), "Content-Type": "application/json"})
    assert status == 200
    await wait_for(lambda: len(fake.views["U0ALICE"]) == 1)
    view = fake.views["U0ALICE"][0]
    text = json.dumps(view, ensure_ascii=False)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "#newsdesk" in text and "Mark Rutte: alerts" in text and "topic nato: digest 0 8 * * * (UTC)" in text
    assert "Tracked figures" in text and "Volodymyr Zelensky" in text and "feeds, 0 failing" in text

    # A change made in chat (here a button) publishes the tab again for whoever opened it.
    body = _click(fake, "unsubscribe figure:Mark Rutte", "r-home-mute")
    status, _ = await post_signed(url, body, sign(body))
    assert status == 200
    await wait_for(lambda: len(fake.views["U0ALICE"]) == 2)
    again = json.dumps(fake.views["U0ALICE"][1], ensure_ascii=False)
    assert "Mark Rutte: alerts" not in again and "topic nato: digest" in again


@pytest.mark.usefixtures("restore_discord_urls")
async def test_discord_autocomplete_offers_figures_topics_and_feeds(deps: Deps, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    adapter = DiscordAdapter(token=DISCORD_TOKEN, api_url=fake.api_url, gateway_url=fake.gateway_url)
    await adapter.start(make_handler(deps))
    try:
        async def offered(sub: str, option: str, typed: str, token: str) -> list[str]:
            payload: dict[str, Any] = interaction(sub, [{"name": option, "type": 3, "value": typed, "focused": True}],
                                                  token=token)
            payload["type"] = 4
            await fake.dispatch("INTERACTION_CREATE", payload)
            await wait_for(lambda: len(fake.callbacks[token]) == 1)
            answer = fake.callbacks[token][0]
            assert answer["type"] == 8  # autocomplete result
            return [c["value"] for c in answer["data"]["choices"]]

        assert (await offered("quotes", "figure", "zel", "ac1"))[0] == "Volodymyr Zelensky"
        assert "topic:nato" in await offered("subscribe", "what", "topic:na", "ac2")
        assert (await offered("digest", "options", "uk", "ac3")) == ["ukraine"]
    finally:
        await adapter.stop()
