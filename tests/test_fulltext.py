"""The full-text queue end to end, on both databases, against the loopback news site.

Feed entries are stored as the ingester stores them (summary text, `mark_for_full_text`), then the
service fetches their pages with the real safe fetcher. The site records every request, so the
checks are about what a publisher sees: robots.txt obeyed, the rate kept, Retry-After honoured.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from types import FrameType

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive import statement_store
from bot.archive.articles import ArticleIn, store_article
from bot.chat.channels import sync_config_channels
from bot.config import AppConfig, ChannelConfig, FullTextLimits
from bot.fulltext.queue import FullTextService, for_full_text, queue_counts
from bot.net.fetch import SafeFetcher
from bot.statements import extract_with
from bot.store.models import Article, ArticleRevision, Delivery, StatementRow, StatementSource, utcnow
from bot.store.search import search
from tests.newssite import BOILERPLATE, TEMPLATES, NewsSite, make_article

UA = "newsbot-test/1.0 (+https://example.org/newsbot)"


def fast(config: AppConfig, rate: float = 50.0, **kw: object) -> AppConfig:
    limits = FullTextLimits.model_validate({"rate_per_s": rate, "per_host_concurrency": 2, **kw})
    channels = [ChannelConfig.model_validate({"platform": "slack", "id": "C1", "alerts": {"figures": ["Mark Rutte", "Donald Trump", "Volodymyr Zelensky"]}})]
    ingest = config.ingest.model_copy(update={"user_agent": UA})
    return config.model_copy(update={"fulltext": limits, "channels": channels, "ingest": ingest})


@pytest.fixture
async def site() -> AsyncIterator[NewsSite]:
    s = await NewsSite(hosts=3, throttle_ports=0).start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    f = SafeFetcher(user_agent=UA, timeout_s=10, max_body_bytes=2_000_000, per_host_concurrency=8, allow_private=True)
    try:
        yield f
    finally:
        await f.aclose()


async def add_entry(sessions: async_sessionmaker[AsyncSession], url: str, summary: str, title: str, mode: str = "auto") -> int:
    """What the ingester does with a summary-only feed entry."""
    async with sessions.begin() as s:
        item = ArticleIn(text=summary, title=title, guid=f"guid:{url}", url=url, outlet="Feed Outlet", summary_only=True)
        stored = await store_article(s, for_full_text(item, mode))
        return stored.article.id


async def article(sessions: async_sessionmaker[AsyncSession], art_id: int) -> Article:
    async with sessions() as s:
        row = await s.get(Article, art_id)
        assert row is not None
        return row


async def test_pages_replace_summaries_and_new_statements_alert_once(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, site: NewsSite, fetcher: SafeFetcher
) -> None:
    config = fast(app_config)
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    arts = [make_article(n) for n in range(8)]
    ids = [await add_entry(sessions, site.url(a), a.summary, a.title) for a in arts]
    assert {a.template for a in arts} == set(TEMPLATES)
    async with sessions() as s:
        assert (await queue_counts(s))["queued"] == 8
        assert await s.scalar(select(func.count()).select_from(StatementRow)) == 0  # summaries hold no quote

    service = FullTextService(sessions, config, fetcher=fetcher)
    stats = await service.run_pending()
    await service.aclose()
    assert (stats.fetched, stats.failed, stats.blocked_robots) == (8, 0, 0), stats.as_dict()
    assert service.metrics()["fetched"] == 8

    for a, art_id in zip(arts, ids, strict=True):
        row = await article(sessions, art_id)
        assert row.fulltext_status == "fetched" and not row.summary_only
        assert a.quote in row.text
        assert [b for b in BOILERPLATE if b.lower() in row.text.lower()] == []
        assert row.author == a.author and row.revision == 2
        assert row.title == a.title  # the feed's title stays
    async with sessions() as s:
        # the summary is kept as the revision the page replaced
        assert await s.scalar(select(func.count()).select_from(ArticleRevision)) == 8
        # the search index follows the new text
        page = await search(s, '"not this year and not in story 5"')
        assert [h.id for h in page.hits] == [ids[5]]
        assert (await search(s, '"Markets slide as investors weigh tariffs"')).hits == ()
        # statements found only in the full text, each alerted once to the subscribed channel
        quotes = (await s.execute(select(StatementRow).where(StatementRow.text.like("We will not step back%")))).scalars().all()
        assert len(quotes) == 8
        assert {q.speaker for q in quotes} == {"Mark Rutte", "Volodymyr Zelensky", "Donald Trump"}
        alerts = (await s.execute(select(Delivery).where(Delivery.statement_id.in_([q.id for q in quotes])))).scalars().all()
        assert len(alerts) == 8
        n_alerts = await s.scalar(select(func.count()).select_from(Delivery))
        counts = await queue_counts(s)
    assert counts == {"queued": 0, "fetched": 8, "blocked_robots": 0, "failed": 0}

    # fetched again (re-queued by hand): same text, no new revision, no second alert
    async with sessions.begin() as s:
        await s.execute(update(Article).values(fulltext_status="queued"))
    service = FullTextService(sessions, config, fetcher=fetcher)
    assert (await service.run_pending()).fetched == 8
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Delivery)) == n_alerts
        assert await s.scalar(select(func.count()).select_from(ArticleRevision)) == 8
    # a later poll of the feed brings the summary again: the full text stays
    async with sessions.begin() as s:
        again = await store_article(
            s, ArticleIn(text=arts[0].summary, title=arts[0].title, guid=f"guid:{site.url(arts[0])}", url=site.url(arts[0]), outlet="Feed Outlet", summary_only=True)
        )
        assert again.outcome == "unchanged"
    assert arts[0].quote in (await article(sessions, ids[0])).text
    # the User-Agent names the bot and a contact URL
    assert {h.user_agent for h in site.hits} == {UA}


async def test_walls_teasers_errors_and_robots_keep_the_summary(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, site: NewsSite, fetcher: SafeFetcher
) -> None:
    config = fast(app_config)
    a = make_article(4)
    base = site.base(0)
    cases = {
        "consent wall": f"{base}/consent/00004.html",
        "paywall teaser": f"{base}/paywall/00004.html",
        "HTTP 404": f"{base}/news/00004-gone.html",
        "error page": f"{base}/soft404/00004.html",
        "robots.txt disallows": f"{base}/private/00004.html",
    }
    ids = {reason: await add_entry(sessions, url, a.summary, f"{a.title} [{reason}]") for reason, url in cases.items()}
    service = FullTextService(sessions, config, fetcher=fetcher)
    stats = await service.run_pending()
    assert (stats.fetched, stats.blocked_robots, stats.failed, stats.rejected) == (0, 1, 4, 3), stats.reasons
    assert stats.reasons == {"consent wall": 1, "paywall teaser": 1, "error page": 1, "HTTP 404": 1}
    for reason, art_id in ids.items():
        row = await article(sessions, art_id)
        assert row.fulltext_status == ("blocked" if reason.startswith("robots") else "failed")
        assert row.fulltext_note == reason
        assert row.summary_only and row.text == a.summary
        assert row.revision == 1
    assert not [h for h in site.hits if h.path.startswith("/private/")]  # never requested
    assert [h.path for h in site.hits].count("/robots.txt") == 1  # cached per host
    async with sessions() as s:
        assert await queue_counts(s) == {"queued": 0, "fetched": 0, "blocked_robots": 1, "failed": 4}
    assert service.metrics() == {
        "queued": 5, "fetched": 0, "blocked_robots": 1, "failed": 4, "rejected": 3, "retried": 0, "throttled": 0
    }
    await service.aclose()


async def test_feed_modes_decide_what_is_queued(sessions: async_sessionmaker[AsyncSession]) -> None:
    a = make_article(1)
    full = "\n\n".join(a.paragraphs * 3)
    auto_summary = await add_entry(sessions, "http://h.test/1", a.summary, a.title)
    auto_full = await add_entry(sessions, "http://h.test/2", full, a.title + " 2")
    always = await add_entry(sessions, "http://h.test/3", full.replace("Officials", "Ministers"), a.title + " 3", "always")
    never = await add_entry(sessions, "http://h.test/4", a.summary.replace("Tuesday", "Monday"), a.title + " 4", "never")
    statuses = [(await article(sessions, i)).fulltext_status for i in (auto_summary, auto_full, always, never)]
    assert statuses == ["queued", None, "queued", None]


async def test_per_host_rate_and_retry_after_as_the_server_sees_them(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, fetcher: SafeFetcher
) -> None:
    rate = 5.0
    config = fast(app_config, rate=rate)
    site = await NewsSite(hosts=2, throttle_ports=1, retry_after_s=1, response_delay_s=0.05).start()
    try:
        arts = [make_article(n) for n in range(12)]
        for a in arts:
            await add_entry(sessions, site.url(a), a.summary, a.title)
        service = FullTextService(sessions, config, fetcher=fetcher)
        first = await service.run_pending()
        assert first.throttled == 1 and first.retried == 1 and first.fetched == 11, first.as_dict()
        throttled_at = next(h.at for h in site.hits if h.port == site.ports[0] and h.path != "/robots.txt")
        # the throttled page is due again after Retry-After; make it due now, the limiter still waits
        async with sessions.begin() as s:
            await s.execute(update(Article).where(Article.fulltext_status == "queued").values(fulltext_next_at=utcnow() - timedelta(seconds=1)))
        second = await service.run_pending()
        assert second.fetched == 1, second.as_dict()
        await service.aclose()
        for port in site.ports:
            times = sorted(h.at for h in site.hits_for(port))
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            assert min(gaps) >= (1 / rate) * 0.9, (port, gaps)  # robots.txt counts toward the rate too
            assert site.max_inflight[port] <= 2
        after_429 = [h.at for h in site.hits_for(site.ports[0]) if h.at > throttled_at]
        assert after_429 and min(after_429) - throttled_at >= 1.0 * 0.95
        async with sessions() as s:
            assert (await queue_counts(s))["fetched"] == 12
    finally:
        await site.stop()


async def test_two_workers_share_the_queue_and_fetch_each_page_once(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, site: NewsSite, fetcher: SafeFetcher
) -> None:
    """Two services claiming at the same moment (as two ingesters do): each row is claimed by one
    of them, every page is requested once, and all are stored."""
    config = fast(app_config)
    arts = [make_article(n) for n in range(12)]
    for a in arts:
        await add_entry(sessions, site.url(a), a.summary, a.title)
    one, two = FullTextService(sessions, config, fetcher=fetcher), FullTextService(sessions, config, fetcher=fetcher)
    try:
        runs = await asyncio.gather(one.run_pending(), two.run_pending())
    finally:
        await one.aclose()
        await two.aclose()
    assert sum(r.claimed for r in runs) == 12 and sum(r.fetched for r in runs) == 12, [r.as_dict() for r in runs]
    pages = [h.path for h in site.hits if h.path != "/robots.txt"]
    assert sorted(pages) == sorted(a.path for a in arts)
    async with sessions() as s:
        assert await queue_counts(s) == {"queued": 0, "fetched": 12, "blocked_robots": 0, "failed": 0}


async def test_nothing_is_lost_when_a_run_dies(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, fetcher: SafeFetcher
) -> None:
    config = fast(app_config)
    site = await NewsSite(hosts=1, gate=asyncio.Event()).start()
    try:
        arts = [make_article(n) for n in range(3)]
        ids = [await add_entry(sessions, site.url(a), a.summary, a.title) for a in arts]
        service = FullTextService(sessions, config, fetcher=fetcher)
        run = asyncio.create_task(service.run_pending())
        await site.page_requested.wait()
        run.cancel()  # the process dies mid-fetch
        with pytest.raises(asyncio.CancelledError):
            await run
        async with sessions() as s:
            rows = (await s.execute(select(Article).where(Article.id.in_(ids)))).scalars().all()
            assert {r.fulltext_status for r in rows} == {"queued"}
            assert all(r.fulltext_next_at and r.fulltext_next_at > utcnow() for r in rows)  # leased
        # a new process: leased rows are not taken twice while the lease runs ...
        assert site.gate is not None
        site.gate.set()
        fresh = FullTextService(sessions, config, fetcher=fetcher)
        assert (await fresh.run_pending()).claimed == 0
        # ... and are taken once it has run out
        async with sessions.begin() as s:
            await s.execute(update(Article).values(fulltext_next_at=utcnow() - timedelta(seconds=1)))
        assert (await fresh.run_pending()).fetched == 3
        await fresh.aclose()
        await service.aclose()
    finally:
        await site.stop()


async def test_statement_sources_point_into_the_full_text(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, site: NewsSite, fetcher: SafeFetcher
) -> None:
    a = make_article(0)  # Mark Rutte
    art_id = await add_entry(sessions, site.url(a), a.summary, a.title)
    service = FullTextService(sessions, fast(app_config), fetcher=fetcher)
    await service.run_pending()
    row = await article(sessions, art_id)
    async with sessions() as s:
        src = (await s.execute(select(StatementSource).where(StatementSource.article_id == art_id, StatementSource.kind == "direct"))).scalars().first()
    assert src is not None and row.text[src.start : src.end] == src.text and a.quote.startswith(src.text[:30])


async def test_backfilled_entries_store_statements_without_alerts(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, site: NewsSite, fetcher: SafeFetcher
) -> None:
    config = fast(app_config)
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    a = make_article(0)
    async with sessions.begin() as s:
        item = ArticleIn(text=a.summary, title=a.title, guid="old", url=site.url(a), outlet="Feed Outlet", summary_only=True)
        stored = await store_article(s, for_full_text(item, "auto", alerts=False))
        assert stored.article.fulltext_status == "queued"
    service = FullTextService(sessions, config, fetcher=fetcher)
    stats = await service.run_pending()
    assert stats.fetched == 1 and stats.statements >= 1
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Delivery)) == 0


def _open_transactions(dsn: str) -> list[str]:
    """The states of the test database's backends inside a transaction, read on a connection of
    its own from a thread of its own (the caller may be the event loop's thread, busy)."""
    import asyncpg

    async def read() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT state FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            return [str(r["state"]) for r in rows]
        finally:
            await conn.close()

    out: list[list[str]] = []

    def run() -> None:
        sys.setprofile(None)
        out.append(asyncio.run(read()))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


async def test_statements_are_extracted_and_matched_with_no_transaction_open(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, site: NewsSite, fetcher: SafeFetcher
) -> None:
    """Each page's statements are extracted once and the batch's matched once, before the write
    (not again inside it); on PostgreSQL, while they are, no backend of the database is in a
    transaction: the write transaction begins once the Python work is done."""
    engine = sessions.kw["bind"]
    postgres = engine.dialect.name == "postgresql"
    dsn = engine.url.render_as_string(hide_password=False).replace("postgresql+asyncpg", "postgresql")
    config = fast(app_config)
    async with sessions.begin() as s:
        await sync_config_channels(s, config)
    arts = [make_article(n) for n in range(3)]
    for a in arts:
        await add_entry(sessions, site.url(a), a.summary, a.title)
    watched = {extract_with.__code__: "extract", statement_store._match.__code__: "match"}
    seen: list[tuple[str, list[str]]] = []

    def watch(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code in watched:
            seen.append((watched[frame.f_code], _open_transactions(dsn) if postgres else []))

    service = FullTextService(sessions, config, fetcher=fetcher)  # its executor's threads start later
    sys.setprofile(watch)
    threading.setprofile(watch)
    try:
        stats = await service.run_pending()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        await service.aclose()
    assert stats.fetched == 3 and stats.statements >= 3
    assert [what for what, _ in seen] == ["extract", "extract", "extract", "match"]
    assert [(what, states) for what, states in seen if states] == []
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Delivery)) == 3  # alerted once each
