"""`/news` in a channel: subscriptions as typed, config subscriptions said plainly, feeds listed once,
quotes newest first by the article's date with outlet, link and cue."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from bot.archive.articles import ArticleIn, store_article
from bot.archive.hooks import after_store
from bot.chat.channels import sync_config_channels
from bot.chat.plaintext import render_text
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.store.models import Channel, StatementRow, StatementSource, Subscription
from tests.test_commands import CONSOLE, SLACK_ADMIN, SLACK_USER, deps, seeded_pg, seeded_sqlite, seeded_url

__all__ = ["deps", "seeded_pg", "seeded_sqlite", "seeded_url"]  # fixtures shared with test_commands


async def _subs(deps: Deps, platform: str, channel: str) -> dict[tuple[str, str], Subscription]:
    async with deps.sessions() as s:
        ch = (await s.execute(select(Channel).where(Channel.platform == platform, Channel.external_id == channel))).scalar_one()
        rows = (await s.execute(select(Subscription).where(Subscription.channel_id == ch.id))).scalars()
        return {(x.kind, x.value): x for x in rows}


async def test_unsubscribe_multiword_keyword_as_help_shows_it(deps: Deps) -> None:
    r = await handle('subscribe keyword:"peace talks"', SLACK_USER, deps)
    assert r.ok, render_text(r)
    await handle("subscribe keyword:peace", SLACK_USER, deps)
    assert {("keyword", "peace talks"), ("keyword", "peace")} <= set(await _subs(deps, "slack", "C1"))
    gone = await handle("unsubscribe keyword:peace talks", SLACK_USER, deps)
    assert gone.ok and "keyword peace talks" in render_text(gone), render_text(gone)
    left = await _subs(deps, "slack", "C1")
    assert ("keyword", "peace talks") not in left and ("keyword", "peace") in left
    # and subscribe typed the same way stores the whole phrase
    await handle("subscribe keyword:air defence", SLACK_USER, deps)
    assert ("keyword", "air defence") in await _subs(deps, "slack", "C1")


async def test_feeds_list_names_an_untitled_feed_once(deps: Deps) -> None:
    ok = await handle("feeds add https://example.org/untitled.xml", SLACK_ADMIN, deps)
    assert ok.ok, render_text(ok)
    pages = [render_text(await handle(f"feeds list page:{n}", SLACK_USER, deps)) for n in range(1, 20)]
    listing = next(p for p in pages if "untitled.xml" in p)
    assert listing.count("https://example.org/untitled.xml") == 1, listing


async def test_config_subscriptions_are_said_to_come_back(deps: Deps) -> None:
    async with deps.sessions.begin() as s:
        await sync_config_channels(s, deps.config)
    listing = render_text(await handle("subscribe", CONSOLE, deps))
    assert "Mark Rutte: alerts (set in the config file)" in listing, listing
    changed = await handle("subscribe rutte alerts:off digest:on", CONSOLE, deps)
    text = render_text(changed)
    assert changed.ok and "figure Mark Rutte is set in the config file" in text and "next restart" in text, text
    gone = await handle("unsubscribe figure:rutte", CONSOLE, deps)
    text = render_text(gone)
    assert gone.ok and "returns at the next restart" in text and "`channels:`" in text, text
    # chat subscriptions carry no such note
    mine = await handle("subscribe keyword:ceasefire", CONSOLE, deps)
    assert mine.ok and not mine.text
    # and the restart does put it back, as the reply said
    async with deps.sessions.begin() as s:
        await sync_config_channels(s, deps.config)
    assert ("figure", "Mark Rutte") in await _subs(deps, "console", "console")


ARTICLES = [  # stored in this order; published in the other
    ("later", 10, "Beta News", '"We will not be divided by anyone," Mark Rutte said at the summit in The Hague on Tuesday.'),
    ("earlier", 1, "Alpha Times",
     'NATO Secretary General Mark Rutte urged allies to "spend far more on air defence this very year," speaking in '
     "Brussels on Monday."),
]


async def test_quotes_newest_first_by_article_date_with_outlet_link_and_cue(deps: Deps) -> None:
    for key, day, outlet, text in ARTICLES:
        async with deps.sessions.begin() as s:
            stored = await store_article(s, ArticleIn(
                text=text, title=f"Summit {key}", guid=f"test:{key}", url=f"https://example.org/{key}", outlet=outlet,
                published_at=datetime(2025, 6, day, 9, 30, tzinfo=UTC)))
            assert await after_store(s, stored, deps.config) >= 1
    async with deps.sessions() as s:
        cues = dict((await s.execute(
            select(StatementSource.text, StatementSource.cue)
            .join(StatementRow, StatementRow.id == StatementSource.statement_id)
            .where(StatementRow.speaker == "Mark Rutte", StatementSource.text.contains("air defence"))
        )).all())
    assert list(cues.values()) == ["urged"], cues
    deps.page_size = 100
    r = await handle("quotes rutte", CONSOLE, deps)
    items = [i for sec in r.sections for i in sec.items]
    dates = [re.search(r"\d{4}-\d{2}-\d{2}", i.meta or "").group(0) for i in items]  # type: ignore[union-attr]
    assert dates == sorted(dates, reverse=True), dates
    urged = next(i for i in items if "air defence" in i.title)
    said = next(i for i in items if "not be divided" in i.title)
    assert items.index(said) < items.index(urged)  # published later, stored earlier
    assert urged.title.startswith("Rutte urged: “spend far more on air defence"), urged.title
    assert urged.url == "https://example.org/earlier" and (urged.meta or "").startswith("Alpha Times · 2025-06-01")
    assert said.title.startswith("Rutte said: “We will not be divided")
    fig = await handle("figure rutte", CONSOLE, deps)
    recent = next(sec for sec in fig.sections if sec.heading == "Recent statements")
    assert all(re.match(r"Rutte [a-z ]+: “|Rutte \([a-z ]+\): |According to Rutte: ", i.title) for i in recent.items)
