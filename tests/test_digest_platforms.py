"""Digests through the real Slack and Discord SDKs to the fake platforms: exactly once, through a 429."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.discord import DiscordAdapter, ref_for
from adapters.slack import SlackAdapter
from bot.archive.articles import ArticleIn, store_article
from bot.archive.hooks import after_store
from bot.chat.channels import sync_config_channels
from bot.chat.delivery import DeliveryOptions, DeliveryWorker
from bot.chat.digests import enqueue_digest
from bot.config import AppConfig, ChannelConfig, DigestRule
from bot.store.models import Channel, Delivery, utcnow
from tests.fakes.discord_api import BOT_TOKEN as DISCORD_TOKEN
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.slack_api import BOT_TOKEN as SLACK_TOKEN
from tests.fakes.slack_api import FakeSlack
from tests.test_slack_adapter import SECRET
from tests.test_slack_e2e import DISCORD_CHANNEL, _no_commands

STORY = (
    "NATO Secretary General Mark Rutte said on Monday that allies would send more air defence to Ukraine. "
    "“We must do more, and we must do it now,” Rutte told reporters in Brussels."
)


async def test_digests_reach_slack_and_discord_exactly_once_through_a_429(
    sessions: async_sessionmaker[AsyncSession],
    app_config: AppConfig,
    fake_slack: FakeSlack,
    fake_discord: FakeDiscord,
) -> None:
    rule = DigestRule(cron="0 8 * * *", timezone="UTC", topics=["nato"])
    config = app_config.model_copy(
        update={
            "channels": [
                ChannelConfig(platform="slack", id="C0DIGEST", digest=rule),
                ChannelConfig(platform="discord", id=DISCORD_CHANNEL, digest=rule),
            ]
        }
    )
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    for i, outlet in enumerate(("Reuters", "AP", "BBC")):
        async with sessions.begin() as s:
            stored = await store_article(
                s,
                ArticleIn(text=STORY, title="Rutte pledges more air defence", guid=f"d{i}", outlet=outlet,
                          url=f"https://{outlet.lower()}.example/rutte", topics=("nato", "ukraine"),
                          published_at=utcnow() - timedelta(hours=2)),
            )
            await after_store(s, stored, config, alerts=False)
    async with sessions() as s:
        channels = {c.platform: c.id for c in (await s.execute(select(Channel))).scalars()}
    keys = {}
    for platform, cid in channels.items():
        row_id = await enqueue_digest(sessions, config, cid, ["nato"])
        assert row_id is not None
        # the same scheduler minute again (a second process, a restart): no second digest
        assert await enqueue_digest(sessions, config, cid, ["nato"]) is None
        async with sessions() as s:
            keys[platform] = (await s.get(Delivery, row_id)).idempotency_key  # type: ignore[union-attr]

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
        await worker.drain()  # nothing left to post
    finally:
        await slack.stop()
        await disc.stop()

    slack_msgs = fake_slack.messages["C0DIGEST"]
    assert {m["metadata"]["event_payload"]["key"] for m in slack_msgs} == {keys["slack"]}
    assert len(fake_slack.calls("chat.postMessage")) == len(slack_msgs) + 1  # the one 429, retried
    assert "Rutte pledges more air defence" in str(slack_msgs[0]["blocks"])
    assert "Reuters" in str(slack_msgs) and "BBC" in str(slack_msgs)  # one story, its outlets

    discord_msgs = fake_discord.messages[DISCORD_CHANNEL]
    refs = {m["embeds"][-1]["footer"]["text"].rsplit("ref ", 1)[1] for m in discord_msgs}
    assert refs == {ref_for(keys["discord"])}
    assert len(fake_discord.calls(f"POST /channels/{DISCORD_CHANNEL}/messages")) == len(discord_msgs) + 1
    async with sessions() as s:
        rows = (await s.execute(select(Delivery).where(Delivery.kind == "digest"))).scalars().all()
    assert len(rows) == 2 and {r.status for r in rows} == {"sent"}
