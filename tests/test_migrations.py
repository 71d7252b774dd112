"""Schema migrations that move data, run up and down on both backends with rows in them."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bot.store.db import make_engine
from bot.store.migrate import downgrade, upgrade
from tests.conftest import _admin


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    base = request.getfixturevalue("pg_template")
    name = f"m_{os.getpid()}_{int(time.time() * 1000) % 1000000}"
    asyncio.run(_admin(f"{base}/postgres", f"CREATE DATABASE {name}"))
    return f"{base}/{name}"


async def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        await downgrade(engine, revision)
    finally:
        await engine.dispose()


async def _bands(url: str) -> tuple[list[tuple[int, int]], set[str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = [tuple(r) for r in (await conn.execute(text('SELECT "key", story_id FROM story_bands ORDER BY 1, 2'))).all()]
            indexes = await conn.run_sync(lambda c: {i["name"] or "" for i in inspect(c).get_indexes("story_bands")})
        return rows, indexes
    finally:
        await engine.dispose()


async def test_story_bands_keep_their_rows_through_0008_up_and_down(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO stories (id, title, article_count, created_at, updated_at) VALUES (7, 't', 1, :t, :t), (8, 'u', 1, :t, :t)"),
                {"t": datetime(2025, 6, 1, tzinfo=UTC)},
            )
            await conn.execute(text('INSERT INTO story_bands ("key", story_id) VALUES (-5, 7), (3, 7), (3, 8), (9223372036854775807, 8)'))
        await upgrade(engine)
    finally:
        await engine.dispose()
    rows, indexes = await _bands(empty_url)
    assert rows == [(-5, 7), (3, 7), (3, 8), (9223372036854775807, 8)]
    assert "ix_story_bands_story_id" not in indexes
    if empty_url.startswith("sqlite"):
        engine = make_engine(empty_url)
        async with engine.connect() as conn:
            ddl = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'story_bands'"))).scalar_one()
        await engine.dispose()
        assert "WITHOUT ROWID" in ddl

    await _downgrade(empty_url, "0007")
    rows, indexes = await _bands(empty_url)
    assert rows == [(-5, 7), (3, 7), (3, 8), (9223372036854775807, 8)]
    assert "ix_story_bands_story_id" in indexes


async def test_0009_adds_the_rewording_counter_at_zero_and_takes_it_away(empty_url: str) -> None:
    """Writers compare the counter with the version their kept statement words were read at
    (bot/statement_words.py): it must start as one row at 0, on a new database as on an old one."""
    engine = make_engine(empty_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT id, version FROM statement_wordings"))).all() == [(1, 0)]
        await downgrade(engine, "0008")
        async with engine.connect() as conn:
            assert "statement_wordings" not in await conn.run_sync(lambda c: inspect(c).get_table_names())
        await upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT version FROM statement_wordings"))).scalar_one() == 0
    finally:
        await engine.dispose()


async def test_0010_full_text_queue_index_keeps_only_queued_life_and_still_serves_the_queue(empty_url: str) -> None:
    """The queue's index is partial (status set); the queue's own queries must still use it."""
    from sqlalchemy import func, select

    from bot.fulltext.queue import _due
    from bot.store.models import Article

    engine = make_engine(empty_url)
    try:
        await upgrade(engine)
        due = select(Article.id).where(_due(datetime(2026, 1, 1, tzinfo=UTC))).limit(5)
        counts = select(Article.fulltext_status, func.count()).where(Article.fulltext_status.is_not(None)).group_by(Article.fulltext_status)
        async with engine.connect() as conn:
            if empty_url.startswith("sqlite"):
                ddl = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_articles_fulltext_queue'"))).scalar_one()
                assert "WHERE fulltext_status IS NOT NULL" in ddl
                explain = "EXPLAIN QUERY PLAN "
            else:
                await conn.execute(text("SET enable_seqscan = off"))  # an empty table: ask whether the index CAN serve
                explain = "EXPLAIN "
            for query in (due, counts):
                sql = str(query.compile(engine.sync_engine, compile_kwargs={"literal_binds": True}))
                plan = " ".join(str(r) for r in (await conn.execute(text(explain + sql))).all())
                assert "ix_articles_fulltext_queue" in plan, plan
        await downgrade(engine, "0009")
        await upgrade(engine)
    finally:
        await engine.dispose()
