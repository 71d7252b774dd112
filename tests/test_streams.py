"""Streams: a channel follows a feed or a topic and gets each new article once, filtered, through the
outbox; a regular expression that backtracks catastrophically cannot stall ingestion."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import select

from adapters.slack_blocks import render as slack_render
from bot.archive.articles import ArticleIn, store_articles
from bot.archive.hooks import after_store_many
from bot.chat.channels import get_or_create_channel
from bot.chat.delivery import render_row
from bot.chat.plaintext import render_text
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.store.models import Delivery, Feed, Subscription
from bot.text.filters import check
from tests.feedfarm import prose
from tests.test_commands import SLACK_ADMIN, SLACK_USER, deps, seeded_pg, seeded_sqlite, seeded_url

__all__ = ["deps", "seeded_pg", "seeded_sqlite", "seeded_url"]  # fixtures shared with test_commands

NEWSROOM = SLACK_USER  # channel C1
DEFENCE = SLACK_USER.__class__(platform="slack", channel_id="C2", user_id="U1", is_admin=False)


def filler(seed: str, words: int = 60) -> str:
    """Feed-farm prose without the words the filters below look for."""
    return prose(seed, words).replace("ceasefire", "truce").replace("talks", "meetings").replace("Ceasefire", "Truce")


async def _feed(deps: Deps, url: str) -> int:
    added = await handle(f"feeds add {url}", SLACK_ADMIN, deps)
    assert added.ok, render_text(added)
    async with deps.sessions() as s:
        return (await s.execute(select(Feed.id).where(Feed.url == url))).scalar_one()


def _article(key: str, text: str, *, feed_id: int | None = None, topics: tuple[str, ...] = (), outlet: str = "Wire",
             title: str | None = None) -> ArticleIn:
    return ArticleIn(text=text, title=title or f"Story {key}", guid=f"stream:{key}", url=f"https://news.example/{key}",
                     outlet=outlet, feed_id=feed_id, topics=topics)


async def _ingest(deps: Deps, items: list[ArticleIn], *, alerts: bool = True) -> None:
    async with deps.sessions.begin() as s:
        stored = await store_articles(s, items, stories=True)
        await after_store_many(s, [(x, alerts) for x in stored], deps.config)


async def _rows(deps: Deps) -> dict[str, Delivery]:
    async with deps.sessions() as s:
        return {d.idempotency_key: d for d in (await s.execute(select(Delivery).where(Delivery.kind == "article"))).scalars()}


async def test_feed_and_topic_streams_with_filters_story_once(deps: Deps) -> None:
    wire = await _feed(deps, "https://wire.example/rss")
    other = await _feed(deps, "https://other.example/rss")
    r = await handle(f'subscribe feed:#{wire} include:ceasefire,"peace talks" exclude:football mention:@here '
                     "format:compact", NEWSROOM, deps)
    assert r.ok, render_text(r)
    r = await handle("subscribe topic:nato match:/air[- ]defen[cs]e/", DEFENCE, deps)
    assert r.ok, render_text(r)
    listing = render_text(await handle("subscriptions", NEWSROOM, deps))
    assert (f"feed https://wire.example/rss (#{wire}): every new article, include ceasefire,peace talks, "
            "exclude football, mention @here, compact") in listing, listing

    body = filler("ceasefire-story", 80)
    await _ingest(deps, [
        _article("talks", f"Envoys resumed peace talks in Geneva on Monday. {body}", feed_id=wire),
        _article("football", f"A ceasefire between football ultras held. {filler('fb', 60)}", feed_id=wire),
        _article("weather", f"Rain is expected. {filler('rain', 60)}", feed_id=wire),
        _article("elsewhere", f"A ceasefire was agreed. {filler('else', 60)}", feed_id=other),
        _article("shield", f"Allies pledged more air defence systems. {filler('ad', 60)}", topics=("nato",)),
        _article("summit", f"Leaders met for dinner. {filler('dinner', 60)}", topics=("nato",)),
    ])
    rows = await _rows(deps)
    assert len(rows) == 2, sorted(rows)
    talks = next(d for d in rows.values() if d.payload["url"].endswith("/talks"))
    shield = next(d for d in rows.values() if d.payload["url"].endswith("/shield"))
    assert talks.payload["mention"] == "@here" and talks.payload["format"] == "compact"
    assert shield.payload["via"] == "topic nato" and shield.payload["format"] == "full"

    # The same story from a second outlet: not posted again; the waiting post now says 2 outlets.
    await _ingest(deps, [_article("talks-copy", f"Envoys resumed peace talks in Geneva on Monday. {body}",
                                  feed_id=wire, outlet="Second Outlet")])
    rows = await _rows(deps)
    assert len(rows) == 2, sorted(rows)
    again = rows[talks.idempotency_key]
    assert again.payload["outlets"] == 2
    shown = render_row("article", again.payload)
    assert shown.mention == "@here" and "2 outlets" in render_text(shown)
    assert all(i.body is None for sec in shown.sections for i in sec.items)  # compact
    slack = slack_render(shown)[0]
    assert slack.text.startswith("<!here>") and slack.blocks[0]["text"]["text"] == "<!here>"

    # A feed's first fetch (backfill) streams nothing.
    await _ingest(deps, [_article("old", f"An old ceasefire. {filler('old', 60)}", feed_id=wire)], alerts=False)
    assert len(await _rows(deps)) == 2

    gone = await handle("unsubscribe feed:https://wire.example/rss", NEWSROOM, deps)
    assert gone.ok and f"(#{wire})" in render_text(gone), render_text(gone)


async def test_bad_stream_options_are_one_line_usage(deps: Deps) -> None:
    for text, problem in [
        ("subscribe topic:nato match:/(a+)+$/", "backtracks"),
        ("subscribe topic:nato match:/([a-z/", "not a regular expression"),
        ("subscribe topic:nato format:huge", "compact or full"),
        ("subscribe topic:nato mention:everyone!", "mention:"),
        ("subscribe feed:nosuch", "no feed"),
        ("subscribe rutte format:compact", "feed:… or topic:…"),
    ]:
        r = await handle(text, NEWSROOM, deps)
        assert r.kind == "usage" and problem in (r.text or "").splitlines()[0], (text, render_text(r))


async def test_catastrophic_regex_cannot_stall_ingestion(deps: Deps) -> None:
    """A pattern that slipped past the trial (stored before it, or written to the database) costs at
    most its time limit per article, and after a few time-outs is not run again: ingestion goes on,
    other subscriptions are served, the article is simply not streamed by that one."""
    bad = f"(a+)+$(?#{uuid.uuid4().hex})"  # a comment makes it this test's own pattern
    async with deps.sessions.begin() as s:
        hostile_channel = await get_or_create_channel(s, "slack", "C3")
        fine_channel = await get_or_create_channel(s, "slack", "C4")
        s.add(Subscription(channel_id=hostile_channel.id, kind="topic", value="nato", alerts=False, stream=True,
                           match=bad))
        s.add(Subscription(channel_id=fine_channel.id, kind="topic", value="nato", alerts=False, stream=True,
                           match="a{3}"))
    hostile = "a" * 3000 + "!"
    started = time.monotonic()
    await asyncio.wait_for(_ingest(deps, [_article(f"hostile{i}", f"{hostile} {i}", topics=("nato",))
                                          for i in range(20)]), timeout=60)
    assert time.monotonic() - started < 60
    rows = await _rows(deps)
    assert {d.channel_id for d in rows.values()} == {fine_channel.id} and len(rows) == 20
    assert check(hostile, None, None, bad).timed_out  # struck out: answered without running
    await _ingest(deps, [_article("fine", "the end is aaa", topics=("nato",))])
    rows = await _rows(deps)
    assert {d.channel_id for d in rows.values()} == {fine_channel.id} and len(rows) == 21


async def test_figure_alerts_ping_the_subscriptions_mention(deps: Deps) -> None:
    r = await handle("subscribe rutte mention:@here", NEWSROOM, deps)
    assert r.ok and "Mark Rutte: alerts mentioning @here" in render_text(r), render_text(r)
    await handle("subscribe zelensky", NEWSROOM, deps)  # no mention: its alerts ping nobody
    quote = ('NATO Secretary General Mark Rutte said allies "will not waver in their support this winter."\n\n'
             'Ukrainian President Volodymyr Zelensky said: "We need more air defence systems right now."')
    await _ingest(deps, [_article("ping", f"{quote} {filler('ping', 40)}")])
    async with deps.sessions() as s:
        alerts = list((await s.execute(select(Delivery).where(Delivery.kind == "alert"))).scalars())
    by_speaker = {d.payload["speaker"]: d for d in alerts}
    assert by_speaker["Mark Rutte"].payload["mention"] == "@here", by_speaker
    assert by_speaker["Volodymyr Zelensky"].payload["mention"] is None
    shown = render_row("alert", by_speaker["Mark Rutte"].payload)
    assert shown.mention == "@here" and slack_render(shown)[0].text.startswith("<!here>")
    assert render_row("alert", by_speaker["Volodymyr Zelensky"].payload).mention is None
