"""Migration 0011 on both backends with rows in it: statements get the date they were said (their
first article's, or when first seen if undated); subscriptions get the stream columns, empty."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from bot.store.db import make_engine
from bot.store.migrate import downgrade, upgrade
from tests.test_migrations import empty_url

__all__ = ["empty_url"]  # the fixture, shared with test_migrations

PUBLISHED = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
SEEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


async def test_0011_dates_stored_statements_and_adds_stream_columns(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        await upgrade(engine, "0010")
        async with engine.begin() as conn:
            for aid, published in ((1, PUBLISHED), (2, None)):
                await conn.execute(text(
                    "INSERT INTO articles (id, guid, published_at, published_inferred, first_seen_at, text, summary_only,"
                    " content_hash, topics, origin, revision, fulltext_attempts)"
                    " VALUES (:id, :guid, :p, false, :seen, 't', false, :h, '', 'feed', 1, 0)"),
                    {"id": aid, "guid": f"g{aid}", "p": published, "seen": SEEN, "h": f"h{aid}"})
                await conn.execute(text(
                    "INSERT INTO statements (id, fingerprint, speaker, figure, kind, text, normalised, first_article_id,"
                    " first_seen_at, outlets, sources) VALUES (:id, :fp, 'Mark Rutte', true, 'direct', 'x', 'x', :a,"
                    " :seen, 1, 1)"),
                    {"id": aid, "fp": f"fp{aid}", "a": aid, "seen": SEEN})
            await conn.execute(text("INSERT INTO channels (id, platform, external_id, paused, created_at)"
                                    " VALUES (1, 'slack', 'C1', false, :t)"), {"t": SEEN})
            await conn.execute(text("INSERT INTO subscriptions (channel_id, kind, value, alerts, digest, origin,"
                                    " created_at) VALUES (1, 'figure', 'Mark Rutte', true, false, 'chat', :t)"),
                               {"t": SEEN})
        await upgrade(engine)
        async with engine.connect() as conn:
            said = dict((await conn.execute(text("SELECT id, said_at FROM statements ORDER BY id"))).all())
            sub = (await conn.execute(text(
                "SELECT stream, include_words, exclude_words, match, mention, format FROM subscriptions"))).one()
            indexes = await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("statements")})
        as_dt = [v if isinstance(v, datetime) else datetime.fromisoformat(str(v)) for v in (said[1], said[2])]
        assert [d.replace(tzinfo=d.tzinfo or UTC) for d in as_dt] == [PUBLISHED, SEEN]
        assert not sub[0] and sub[1:] == (None, None, None, None, None)
        assert "ix_statements_speaker_said_at" in indexes

        await downgrade(engine, "0010")
        async with engine.connect() as conn:
            cols = await conn.run_sync(lambda c: {x["name"] for x in inspect(c).get_columns("statements")})
            sub_cols = await conn.run_sync(lambda c: {x["name"] for x in inspect(c).get_columns("subscriptions")})
            assert (await conn.execute(text("SELECT count(*) FROM subscriptions"))).scalar_one() == 1
        assert "said_at" not in cols and "stream" not in sub_cols
    finally:
        await engine.dispose()
