"""Ingesters writing at once on PostgreSQL: each prepares its writes (stories, statements) before
its transaction, and still every story and statement is stored once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import AppConfig, Limits, Settings
from bot.ingest.feeds import FeedSpec, add_feed
from bot.ingest.service import CycleStats, IngestService
from bot.store.db import make_engine, session_factory
from bot.store.models import Article, StatementRow, Story
from tests.feedfarm import FarmFeed, FarmItem, FeedFarm, prose

FEEDS = 16
PARTIAL = "Rutte said Ukraine’s path to NATO is “irreversible and we will stand with Ukraine” in Kyiv."
FULL = (
    "NATO Secretary General Mark Rutte spoke in Kyiv on Tuesday. “Ukraine’s path to NATO is irreversible"
    " and we will stand with Ukraine for as long as it takes,” Rutte told reporters."
)


def _ingest_elsewhere(db_url: str, config: AppConfig, worker: str) -> CycleStats:
    """One ingest cycle as another process runs it: its own event loop, engine and kept state."""

    async def run() -> CycleStats:
        engine = make_engine(db_url)
        svc = IngestService(session_factory(engine), config, Settings(allow_private_feeds=True), worker, parse_processes=0)
        try:
            return await svc.run_cycle()
        finally:
            await svc.aclose()
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_ingesters_writing_at_once_store_each_story_and_statement_once(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, db_url: str
) -> None:
    """Four ingesters poll sixteen outlets carrying the same wire copy and the same quote (half of
    them only part of it) at once: one story holds every copy, one statement every wording."""
    wire = prose("one wire copy", 150)
    async with FeedFarm(cap_bytes=512 * 1024, slow_s=4.0) as farm:
        urls = [
            farm.put(f"o{i}", FarmFeed(f"Outlet {i}", [
                FarmItem(f"w{i}", "Allies agree on air defence", f"<p>{wire} Reported by outlet {i}.</p>"),
                FarmItem(f"q{i}", "Rutte in Kyiv", f"<p>{PARTIAL if i % 2 else FULL}</p>"),
            ]))
            for i in range(FEEDS)
        ]
        async with sessions.begin() as s:
            for u in urls:
                await add_feed(s, FeedSpec(u))
        # one feed leased at a time each (concurrency 1): the four share the sixteen
        cfg = app_config.model_copy(update={"feeds": [], "ingest": Limits(min_interval_s=60, timeout_s=5.0, concurrency=1)})
        stats = await asyncio.gather(*(asyncio.to_thread(_ingest_elsewhere, db_url, cfg, f"w{n}") for n in range(4)))
        assert all(farm.hits[f"/feeds/o{i}"] == 1 for i in range(FEEDS))
    assert sum(s.fetched for s in stats) == FEEDS and sum(1 for s in stats if s.fetched) >= 2  # really shared
    async with sessions() as s:
        copies = (await s.execute(select(Article.story_id).where(Article.title == "Allies agree on air defence"))).scalars().all()
        assert len(copies) == FEEDS and len(set(copies)) == 1
        assert (await s.execute(select(Story.article_count).where(Story.id == copies[0]))).scalar_one() == FEEDS
        said = (await s.execute(
            select(StatementRow.text, StatementRow.outlets).where(StatementRow.speaker == "Mark Rutte", StatementRow.kind == "direct")
        )).all()
    assert len(said) == 1 and said[0].outlets == FEEDS
    assert said[0].text.startswith("Ukraine’s path to NATO is irreversible and we will stand with Ukraine for as long")
