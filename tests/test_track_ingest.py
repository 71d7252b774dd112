"""A figure tracked from chat is known to the ingester at its next cycle, with no restart: its new
statements carry the canonical name and `figure: true`, and `subscribe figure:NAME` alerts them;
after `untrack` new statements are stored as written again and alert no one. Both backends, the
parse thread and the parse worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from bot.archive.articles import ArticleIn, store_article
from bot.archive.hooks import after_store
from bot.chat.plaintext import render_text
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.config import Limits
from bot.ingest.service import KEEP_WARM_S, IngestService
from bot.store.models import Channel, Delivery, StatementRow
from tests.feedfarm import FarmFeed, FarmItem, FeedFarm, prose
from tests.test_commands import CONSOLE, SLACK_USER, deps, seeded_pg, seeded_sqlite, seeded_url
from tests.test_ingest import ALLOW, add

__all__ = ["deps", "seeded_pg", "seeded_sqlite", "seeded_url"]  # fixtures shared with test_commands

QUOTES = (
    "Europe must keep up the pressure on Moscow through the whole winter",
    "Sanctions will stay in place until the last soldier has gone home",
    "We will not recognise a single annexed village, not now and not later",
)


@pytest.fixture
async def farm() -> AsyncIterator[FeedFarm]:
    async with FeedFarm() as f:
        yield f


def _item(n: int) -> FarmItem:
    body = f"<p>{prose(n, 30)}</p><p>\u201c{QUOTES[n]},\u201d Kallas said on Tuesday in Brussels.</p>"
    return FarmItem(f"urn:kallas:{n}", f"Kallas {n}", body, f"https://eu.example/{n}",
                    published=datetime.now(UTC) - timedelta(hours=3 - n))


async def _said(deps: Deps, n: int) -> tuple[str | None, bool, int]:
    """(speaker, figure, alerts to the subscribed Slack channel) of the statement quoting QUOTES[n]."""
    async with deps.sessions() as s:
        st = (await s.execute(select(StatementRow).where(StatementRow.text.contains(QUOTES[n][:30])))).scalar_one()
        alerts = (await s.execute(
            select(Delivery.id).join(Channel, Channel.id == Delivery.channel_id)
            .where(Delivery.statement_id == st.id, Delivery.kind == "alert", Channel.external_id == "C1")
        )).all()
    return st.speaker, st.figure, len(alerts)


@pytest.mark.parametrize("processes", [0, 2])
async def test_chat_tracked_figure_is_extracted_and_alerted_by_the_next_cycle(
    deps: Deps, farm: FeedFarm, processes: int
) -> None:
    figures = [f for f in deps.config.figures if f.name != "Kaja Kallas"]
    config = deps.config.model_copy(update={"feeds": [], "figures": figures, "ingest": Limits(timeout_s=2.0, concurrency=4)})
    assert len(figures) == len(deps.config.figures) - 1
    deps = Deps.build(deps.sessions, config)
    items = [_item(0)]
    await add(deps.sessions, farm.put("eu", FarmFeed("EU desk", items)))
    svc = IngestService(deps.sessions, config, ALLOW, "w1", parse_processes=processes)
    svc.schedule(AsyncIOScheduler(), every_s=KEEP_WARM_S - 1)  # not started; workers outlive a cycle
    try:
        assert (await svc.run_cycle()).new == 1  # first fetch: backfill, nobody tracks Kallas yet
        assert await _said(deps, 0) == ("Kallas", False, 0)
        warm = svc.parse_pids
        await svc.run_cycle(ignore_schedule=True)  # the same figures: the same workers
        assert svc.parse_pids == warm and len(warm) == min(processes, 1)

        tracked = await handle("track Kaja Kallas alias:Kallas title:High Representative gender:f", CONSOLE, deps)
        assert tracked.ok, render_text(tracked)
        sub = await handle("subscribe figure:Kaja Kallas", SLACK_USER, deps)
        assert sub.ok and "Kaja Kallas" in render_text(sub), render_text(sub)

        items.append(_item(1))
        farm.changed("eu")
        assert (await svc.run_cycle(ignore_schedule=True)).new == 1
        assert await _said(deps, 1) == ("Kaja Kallas", True, 1)
        assert not set(svc.parse_pids) & set(warm)  # restarted with the new figures

        gone = await handle("untrack Kaja Kallas", CONSOLE, deps)
        assert gone.ok, render_text(gone)
        items.append(_item(2))
        farm.changed("eu")
        assert (await svc.run_cycle(ignore_schedule=True)).new == 1
        assert await _said(deps, 2) == ("Kallas", False, 0)
    finally:
        await svc.aclose()


async def test_archive_side_extraction_knows_chat_tracked_figures(deps: Deps) -> None:
    """Seeds and full-text pages are extracted in the write transaction, with the figures read there."""
    figures = [f for f in deps.config.figures if f.name != "Kaja Kallas"]
    deps = Deps.build(deps.sessions, deps.config.model_copy(update={"figures": figures}))

    async def store(n: int) -> None:
        async with deps.sessions.begin() as s:
            stored = await store_article(s, ArticleIn(
                text=f"{prose(n, 30)} \u201c{QUOTES[n]},\u201d Kallas said on Tuesday in Brussels.", title=f"Kallas {n}",
                guid=f"test:kallas:{n}", url=f"https://eu.example/page/{n}", outlet="EU desk",
                published_at=datetime.now(UTC)))
            await after_store(s, stored, deps.config)

    await store(0)
    assert (await _said(deps, 0))[:2] == ("Kallas", False)
    assert (await handle("track Kaja Kallas alias:Kallas", CONSOLE, deps)).ok
    await store(1)
    assert (await _said(deps, 1))[:2] == ("Kaja Kallas", True)
    assert (await handle("untrack Kaja Kallas", CONSOLE, deps)).ok
    await store(2)
    assert (await _said(deps, 2))[:2] == ("Kallas", False)
