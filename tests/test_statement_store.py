"""Statements in the archive on both backends: dedup across outlets, corroboration, and the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, store_article
from bot.archive.hooks import after_store
from bot.archive.seed import load_seeds
from bot.archive.statement_store import corroboration
from bot.chat.channels import sync_config_channels
from bot.config import AppConfig, ChannelConfig
from bot.store.models import Delivery, StatementRow, StatementSource
from tests.conftest import SEEDS

RUTTE_TEXT = (
    "NATO Secretary General Mark Rutte arrived in Kyiv on Tuesday. "
    "“Ukraine’s path to NATO is irreversible and we will stand with Ukraine for as long as it takes,” Rutte told reporters. "
    "He also said that allies would deliver more air defence systems before winter."
)


def with_channels(config: AppConfig, *channels: ChannelConfig) -> AppConfig:
    return config.model_copy(update={"channels": list(channels)})


def slack_rutte() -> ChannelConfig:
    return ChannelConfig.model_validate({"platform": "slack", "id": "C1", "alerts": {"figures": ["Mark Rutte"]}})


def discord_nato() -> ChannelConfig:
    return ChannelConfig.model_validate({"platform": "discord", "id": "42", "alerts": {"topics": ["nato"]}})


async def store(sessions: async_sessionmaker[AsyncSession], config: AppConfig, item: ArticleIn, *, alerts: bool = True) -> int:
    async with sessions.begin() as s:
        stored = await store_article(s, item)
        return await after_store(s, stored, config, alerts=alerts)


async def store_elsewhere(db_url: str, config: AppConfig, item: ArticleIn) -> int:
    """Store as another process would: its own engine, so none of this process's kept state."""
    from bot.store.db import make_engine, session_factory

    other = make_engine(db_url)
    try:
        return await store(session_factory(other), config, item)
    finally:
        await other.dispose()


def article(guid: str, outlet: str, text: str = RUTTE_TEXT, title: str = "Rutte in Kyiv") -> ArticleIn:
    return ArticleIn(
        text=text, title=title, guid=guid, url=f"https://{outlet.lower()}.example/{guid}", outlet=outlet,
        topics=("nato", "ukraine"), published_at=datetime(2025, 11, 18, tzinfo=UTC),
    )


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as s:
        n_st = await s.scalar(select(func.count()).select_from(StatementRow))
        n_del = await s.scalar(select(func.count()).select_from(Delivery))
        return int(n_st or 0), int(n_del or 0)


async def test_seeds_statements_once(sessions: async_sessionmaker[AsyncSession], app_config: AppConfig) -> None:
    first = await load_seeds(sessions, SEEDS, app_config)
    assert first.statements > 10
    again = await load_seeds(sessions, SEEDS, app_config)
    assert again.statements == 0
    async with sessions() as s:
        rows = (await s.execute(select(StatementRow))).scalars().all()
    by_text = {r.text: r for r in rows}
    assert by_text["Come back when you’re ready to pursue peace."].speaker == "Donald Trump"
    assert by_text["complete political and diplomatic failure"].speaker == "Maria Zakharova"
    confidence = next(r for r in rows if r.text.startswith("I have total confidence in President Trump"))
    assert confidence.speaker == "Mark Rutte" and confidence.kind == "direct"
    off_table = [r for r in rows if "off the table" in r.text and r.speaker == "Mark Rutte"]
    assert off_table and all(r.kind == "reported" and r.outlets == 1 for r in off_table)
    assert corroboration(off_table[0].kind, off_table[0].outlets) == "single source, paraphrase"


async def test_alert_written_once_per_statement_and_channel(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    config = with_channels(app_config, slack_rutte(), discord_nato())
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    assert await store(sessions, config, article("a1", "Reuters")) >= 2
    n_statements, n_alerts = await counts(sessions)
    async with sessions() as s:
        rows = (await s.execute(select(Delivery))).scalars().all()
    # every Rutte statement goes to both channels (one by figure, one by topic), with unique keys
    assert n_alerts == 2 * n_statements
    assert len({r.idempotency_key for r in rows}) == n_alerts
    assert {r.payload["speaker"] for r in rows} == {"Mark Rutte"}
    assert all(r.status == "pending" for r in rows)

    # re-ingesting the same entry, the same words from another outlet, and an edit: no new alerts
    assert await store(sessions, config, article("a1", "Reuters")) == 0
    assert await store(sessions, config, article("b1", "AP")) == 0
    edited = RUTTE_TEXT.replace("on Tuesday", "on Tuesday morning")
    assert await store(sessions, config, article("a1", "Reuters", text=edited, title="Rutte in Kyiv (updated)")) == 0
    assert await counts(sessions) == (n_statements, n_alerts)
    async with sessions() as s:
        quote = (
            await s.execute(select(StatementRow).where(StatementRow.text.like("Ukraine’s path to NATO is irreversible%")))
        ).scalar_one()
        assert quote.outlets == 2 and quote.sources == 2
        assert corroboration(quote.kind, quote.outlets) == "direct quote, reported by 2 outlets"
        n_src = await s.scalar(select(func.count()).select_from(StatementSource).where(StatementSource.statement_id == quote.id))
        assert n_src == 2


async def test_partial_quote_joins_longer_one(sessions: async_sessionmaker[AsyncSession], app_config: AppConfig) -> None:
    await store(sessions, app_config, article("a1", "Reuters"))
    partial = "Rutte said Ukraine’s path to NATO is “irreversible and we will stand with Ukraine” in Kyiv."
    await store(sessions, app_config, article("c1", "BBC", text=partial))
    async with sessions() as s:
        rows = (await s.execute(select(StatementRow).where(StatementRow.speaker == "Mark Rutte"))).scalars().all()
    joined = [r for r in rows if r.kind == "direct" and "we will stand with Ukraine" in r.text]
    assert len(joined) == 1 and joined[0].outlets == 2


async def test_backfill_stores_statements_without_alerts(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    config = with_channels(app_config, slack_rutte())
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    assert await store(sessions, config, article("a1", "Reuters"), alerts=False) >= 1
    n_statements, n_alerts = await counts(sessions)
    assert n_statements >= 1 and n_alerts == 0


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> tuple[list[tuple[object, ...]], list[str]]:
    """Statements (speaker, kind, text, outlets, sources) and alert keys, comparable across databases."""
    async with sessions() as s:
        st = sorted(
            (r.speaker, r.kind, r.text, r.outlets, r.sources)
            for r in (await s.execute(select(StatementRow))).scalars().all()
        )
        keys = (await s.execute(select(Delivery.payload))).scalars().all()
    return st, sorted(f"{p['speaker']}|{p['text']}|{p['outlet']}" for p in keys)


async def test_one_batched_write_equals_article_by_article(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    """The ingester records a whole write's statements at once: the same rows and alerts as one by one.

    The batch holds a quote, the same quote from another outlet, a partial quote that a later
    article prints in full (the longer wording wins), and a backfilled article (no alerts).
    """
    from bot.archive.articles import store_articles
    from bot.archive.hooks import after_store_many

    config = with_channels(app_config, slack_rutte(), discord_nato())
    partial = "Rutte said Ukraine’s path to NATO is “irreversible and we will stand with Ukraine” in Kyiv."
    longer = RUTTE_TEXT.replace("as long as it takes", "as long as it takes, whatever Moscow says")
    items = [
        (article("p1", "BBC", text=partial), True),
        (article("a1", "Reuters"), True),
        (article("b1", "AP"), True),
        (article("l1", "DW", text=longer), True),
        (article("old", "Archive", text=RUTTE_TEXT.replace("Kyiv", "Vilnius")), False),
    ]
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    async with sessions.begin() as s:
        stored = await store_articles(s, [i for i, _ in items])
        batched = await after_store_many(s, [(st, alerts) for st, (_, alerts) in zip(stored, items, strict=True)], config)
    assert batched[0] >= 1 and batched[2] == 0  # AP only repeats what Reuters said
    together = await snapshot(sessions)
    async with sessions.begin() as s:  # start again, one article per transaction
        for table in (Delivery, StatementSource, StatementRow):
            await s.execute(table.__table__.delete())
        from bot.store.models import Article

        await s.execute(Article.__table__.delete())
    one_by_one = [await store(sessions, config, item, alerts=alerts) for item, alerts in items]
    statements, alerts = await snapshot(sessions)
    assert statements == together[0]
    assert one_by_one == batched
    assert any(text.endswith("whatever Moscow says") for _, _, text, _, _ in statements)
    # The same alerts (who, which outlet's article, how many); a batched alert carries the fullest
    # wording known when it is written, where one by one it kept the partial quote seen first.
    assert sorted(a.split("|")[::2] for a in alerts) == sorted(a.split("|")[::2] for a in together[1])
    assert sum("whatever Moscow says" in a for a in together[1]) == 2  # both channels


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_writers_at_once_record_one_statement_for_two_wordings(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    """A partial quote and the full one, recorded by two transactions at once: the second waits for
    the first to commit and joins its statement (else each would start one, and alert twice)."""
    partial = "Rutte said Ukraine’s path to NATO is “irreversible and we will stand with Ukraine” in Kyiv."
    first_recorded = asyncio.Event()
    release = asyncio.Event()

    async def writer_a() -> None:
        async with sessions.begin() as s:
            await after_store(s, await store_article(s, article("p1", "BBC", text=partial)), app_config)
            first_recorded.set()
            await release.wait()  # still uncommitted while B records

    async def writer_b() -> None:
        await first_recorded.wait()
        async with sessions.begin() as s:
            await after_store(s, await store_article(s, article("f1", "Reuters")), app_config)

    a, b = asyncio.create_task(writer_a()), asyncio.create_task(writer_b())
    await asyncio.sleep(0.5)
    assert not b.done()  # B waits for A's commit
    release.set()
    await asyncio.wait_for(asyncio.gather(a, b), 10)
    async with sessions() as s:
        rows = (await s.execute(select(StatementRow).where(StatementRow.speaker == "Mark Rutte", StatementRow.kind == "direct"))).scalars().all()
    joined = [r for r in rows if "we will stand with Ukraine" in r.text]
    assert len(joined) == 1 and joined[0].outlets == 2


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_writers_quoting_different_people_do_not_wait_for_each_other(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    """Statements only ever join their own speaker's, so the statement lock is per speaker: a writer
    quoting Trump records and commits while one quoting Rutte still holds its transaction open."""
    trump = (
        "President Donald Trump spoke at the White House on Monday. "
        "“We will have a deal on the tariffs very soon, maybe this week,” Trump told reporters."
    )
    first_recorded = asyncio.Event()
    release = asyncio.Event()

    async def writer_a() -> None:
        async with sessions.begin() as s:
            await after_store(s, await store_article(s, article("r1", "BBC")), app_config)
            first_recorded.set()
            await release.wait()  # still uncommitted while B records

    async def writer_b() -> int:
        await first_recorded.wait()
        async with sessions.begin() as s:
            return await after_store(s, await store_article(s, article("t1", "Reuters", text=trump, title="Trump on tariffs")), app_config)

    a, b = asyncio.create_task(writer_a()), asyncio.create_task(writer_b())
    try:
        # B commits with A's transaction open; were it waiting for A, this would time out instead
        assert await asyncio.wait_for(b, 60) >= 1
    finally:
        release.set()
        await a
    async with sessions() as s:
        speakers = {r.speaker for r in (await s.execute(select(StatementRow))).scalars()}
    assert {"Mark Rutte", "Donald Trump"} <= speakers


async def test_statements_matched_before_the_write_join_one_committed_meanwhile(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    """The ingester matches a batch's statements before its write transaction (`match_ahead`); a
    statement another writer commits in between (here a partial quote of the same words) must be
    joined by the write, not started a second time."""
    from bot.archive.hooks import after_store_many
    from bot.archive.statement_store import gazetteer_for, match_ahead
    from bot.statements import extract_with

    full = article("f1", "Reuters")
    found = [[f for f in extract_with(full.text, gazetteer_for(app_config), None) if f.text.strip()]]
    ahead = await match_ahead(sessions, [full], found)
    assert ahead is not None and ahead.pending  # nothing stored yet: every statement would start anew
    partial = "Rutte said Ukraine’s path to NATO is “irreversible and we will stand with Ukraine” in Kyiv."
    await store(sessions, app_config, article("p1", "BBC", text=partial))
    async with sessions.begin() as s:
        stored = await store_article(s, full)
        await after_store_many(s, [(stored, True)], app_config, found, ahead)
    async with sessions() as s:
        rows = (await s.execute(select(StatementRow).where(StatementRow.speaker == "Mark Rutte", StatementRow.kind == "direct"))).scalars().all()
    joined = [r for r in rows if "we will stand with Ukraine" in r.text]
    assert len(joined) == 1 and joined[0].outlets == 2
    assert joined[0].text.startswith("Ukraine’s path to NATO is irreversible")  # the longer wording wins


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("meanwhile", ["partial", "same"])
async def test_a_statement_committed_after_the_match_is_joined_by_a_write_holding_the_locks_already(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, meanwhile: str
) -> None:
    """The ingester on PostgreSQL takes the statement locks in its first statement and checks for
    statements committed since its match in the statement that records its own (`locked=True`):
    one committed in between (a partial quote of the same words, or the same words) is joined,
    not started a second time."""
    from sqlalchemy import text

    from bot.archive.hooks import after_store_many
    from bot.archive.statement_store import gazetteer_for, lock_keys, match_ahead
    from bot.statements import extract_with

    full = article("f1", "Reuters")
    found = [[f for f in extract_with(full.text, gazetteer_for(app_config), None) if f.text.strip()]]
    ahead = await match_ahead(sessions, [full], found)
    assert ahead is not None and ahead.pending
    partial = "Rutte said Ukraine’s path to NATO is “irreversible and we will stand with Ukraine” in Kyiv."
    await store(sessions, app_config, article("p1", "BBC", text=partial if meanwhile == "partial" else RUTTE_TEXT))
    async with sessions.begin() as s:
        stored = await store_article(s, full)
        await s.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                        {"keys": lock_keys(ahead)})
        await after_store_many(s, [(stored, True)], app_config, found, ahead, locked=True)
    async with sessions() as s:
        rows = (await s.execute(select(StatementRow).where(StatementRow.speaker == "Mark Rutte", StatementRow.kind == "direct"))).scalars().all()
    joined = [r for r in rows if "we will stand with Ukraine" in r.text]
    assert len(joined) == 1 and joined[0].outlets == 2 and joined[0].sources == 2
    assert joined[0].text.startswith("Ukraine’s path to NATO is irreversible")  # the longer wording wins


def rutte_says(quote: str) -> str:
    return f"NATO Secretary General Mark Rutte spoke in Kyiv on Tuesday. “{quote},” Rutte told reporters."


async def rutte_statements(sessions: async_sessionmaker[AsyncSession]) -> list[StatementRow]:
    async with sessions() as s:
        query = select(StatementRow).where(StatementRow.speaker == "Mark Rutte").order_by(StatementRow.id)
        return list((await s.execute(query)).scalars().all())


async def test_a_rewording_by_another_process_reaches_the_words_this_one_kept(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, db_url: str
) -> None:
    """Writers keep statements' words between transactions (bot/statement_words.py). When another
    process rewords a statement (a longer wording replaces a partial quote), this one must match
    against the new words: here a third wording is near the long one only."""
    partial = "Ukraine’s “path to NATO is irreversible,” Rutte told reporters in Kyiv on Tuesday."
    full = "Ukraine’s path to NATO is irreversible and we will stand with Ukraine for as long as it takes"
    edited = "Ukraine’s road to NATO is irreversible and we will stand with Ukraine for as long as it takes"
    await store(sessions, app_config, article("p", "BBC", text=partial))
    # another statement of his: this process reads (and keeps) his recent statements' words
    await store(sessions, app_config, article("u", "AP", text=rutte_says("Allies will send more air defence before the winter")))
    await store_elsewhere(db_url, app_config, article("f", "Reuters", text=rutte_says(full)))
    await store(sessions, app_config, article("e", "DW", text=rutte_says(edited)))
    same = [r for r in await rutte_statements(sessions) if "irreversible" in r.text]
    assert [(r.text, r.outlets) for r in same] == [(full, 3)]


async def test_a_statement_another_process_stored_is_joined_by_a_wording_recorded_here(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, db_url: str
) -> None:
    """Writers keep each speaker's candidate index between writes (statement_store._KeptIndex):
    a statement another process stored after this one built Rutte's index must still be found,
    and a partial quote of it recorded here joins it instead of starting a second statement."""
    full = "Ukraine’s path to NATO is irreversible and we will stand with Ukraine for as long as it takes"
    partial = "Rutte said Ukraine’s path to NATO is “irreversible and we will stand with Ukraine” in Kyiv."
    await store(sessions, app_config, article("u", "AP", text=rutte_says("Allies will send more air defence before the winter")))
    await store_elsewhere(db_url, app_config, article("f", "Reuters", text=rutte_says(full)))
    await store(sessions, app_config, article("p", "BBC", text=partial))
    same = [r for r in await rutte_statements(sessions) if r.kind == "direct" and "irreversible" in r.text]
    assert [(r.text, r.outlets) for r in same] == [(full, 2)]


async def test_words_read_in_a_rolled_back_transaction_are_not_kept(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    """A statement inserted by a transaction that rolls back never existed, and SQLite gives its id
    to the next one: words kept for that id would make a later repeat of the rolled-back quote
    join an unrelated statement."""
    gone = "We are sending four more Patriot batteries to Ukraine before the winter"
    with pytest.raises(RuntimeError):
        async with sessions.begin() as s:
            await after_store(s, await store_article(s, article("g1", "BBC", text=rutte_says(gone))), app_config)
            # a second article in the same transaction reads his recent statements, the new one among them
            again = article("g2", "AP", text=rutte_says("Our support for Kyiv will not waver at all"))
            await after_store(s, await store_article(s, again), app_config)
            raise RuntimeError("rolled back")
    other = "Moscow should not doubt the resolve of this alliance in any way"
    await store(sessions, app_config, article("o1", "DW", text=rutte_says(other)))  # takes the freed id on SQLite
    await store(sessions, app_config, article("g3", "Reuters", text=rutte_says(gone)))
    rows = await rutte_statements(sessions)
    assert sorted((r.text, r.outlets) for r in rows) == sorted([(other, 1), (gone, 1)])


async def test_an_alert_says_how_it_was_said_and_how_the_speaker_was_found(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    """The cue makes "told reporters" read as Rutte's words; a "he said" names Rutte by coreference,
    and the alert says so, so an editor knows to check the article."""
    from bot.chat.alerts import alert_line

    config = with_channels(app_config, slack_rutte())
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    await store(sessions, config, article("a1", "Reuters"))
    async with sessions() as s:
        payloads = [r.payload for r in (await s.execute(select(Delivery))).scalars()]
    by_kind = {p["kind"]: p for p in payloads}
    quote, reported = by_kind["direct"], by_kind["reported"]
    assert quote["cue"] == "told" and quote["attributed"] == "cue"
    assert alert_line(quote, config.figure_list()).startswith("Rutte told: “Ukraine’s path to NATO is irreversible")
    assert reported["attributed"] == "pronoun"
    line = alert_line(reported, config.figure_list())
    assert line.startswith("Rutte (said): allies would deliver more air defence systems")
    assert line.endswith("(speaker named earlier, referred to as he/she)")
