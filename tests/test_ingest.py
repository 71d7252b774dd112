"""Feed ingestion end to end on both backends: loopback feed farm -> IngestService -> archive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import AppConfig, FeedConfig, Limits, Settings
from bot.ingest.feeds import FeedSpec, add_feed, sync_config_feeds
from bot.ingest.health import feed_health
from bot.ingest.service import IngestService
from bot.store.models import Article, ArticleRevision, Feed, IngestCycle, Story
from tests.feedfarm import FarmFeed, FarmItem, FeedFarm, farm_items, prose

ALLOW = Settings(allow_private_feeds=True)


@pytest.fixture
def config(app_config: AppConfig) -> AppConfig:
    return app_config.model_copy(
        update={"feeds": [], "ingest": Limits(min_interval_s=60, max_interval_s=3600, timeout_s=2.0, concurrency=8, max_body_bytes=512 * 1024)}
    )


@pytest.fixture
async def farm() -> AsyncIterator[FeedFarm]:
    async with FeedFarm(cap_bytes=512 * 1024, slow_s=4.0) as f:
        yield f


async def add(sessions: async_sessionmaker[AsyncSession], *urls: str, topics: tuple[str, ...] = ()) -> None:
    async with sessions.begin() as s:
        for u in urls:
            await add_feed(s, FeedSpec(u, topics=topics))


def service(sessions: async_sessionmaker[AsyncSession], config: AppConfig, worker: str = "w1", **kw: object) -> IngestService:
    kw.setdefault("parse_processes", 0)
    return IngestService(sessions, config, kw.pop("settings", ALLOW), worker, **kw)  # type: ignore[arg-type]


async def articles(sessions: async_sessionmaker[AsyncSession]) -> list[Article]:
    async with sessions() as s:
        return list((await s.execute(select(Article).order_by(Article.id))).scalars())


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar() or 0)


async def test_every_format_stored_once_then_304(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    urls = [farm.put(fmt, FarmFeed(f"{fmt} outlet", farm_items(fmt, 4), fmt=fmt)) for fmt in ("rss", "atom", "rdf", "json")]
    await add(sessions, *urls)
    svc = service(sessions, config)
    try:
        first = await svc.run_cycle()
        assert (first.fetched, first.new, first.failed) == (4, 16, 0), first.failures
        rows = await articles(sessions)
        assert len(rows) == 16
        by_outlet = {a.outlet for a in rows}
        assert by_outlet == {"rss outlet", "atom outlet", "rdf outlet", "json outlet"}
        for a in rows:
            assert a.url and "utm_source" not in a.url and a.url.startswith("https://news.example/")
            assert a.title and a.title.startswith("Story ")
            assert "<p>" not in a.text and len(a.text.split()) > 60
            assert a.published_at is not None and not a.published_inferred
            assert a.story_id is not None
        async with sessions() as s:  # the date filters' per-day id summary, folded after the cycle
            days, summary_rows, lo, hi = (
                await s.execute(text("SELECT count(DISTINCT day), count(*), min(min_id), max(max_id) FROM article_days"))
            ).one()
        assert days == summary_rows == len({a.published_at.astimezone(UTC).date() for a in rows if a.published_at})
        assert (lo, hi) == (min(a.id for a in rows), max(a.id for a in rows))
        second = await svc.run_cycle(ignore_schedule=True)
        assert (second.fetched, second.not_modified, second.new, second.updated) == (0, 4, 0, 0)
        assert sum(farm.not_modified.values()) == 4
        assert await count(sessions, Article) == 16
        async with sessions() as s:
            cycles = list((await s.execute(select(IngestCycle))).scalars())
        assert len(cycles) == 2 and all(c.finished_at for c in cycles)
        assert cycles[0].stats["new"] == 16 and cycles[1].stats["not_modified"] == 4
    finally:
        await svc.aclose()


async def test_encodings_relative_links_missing_dates_and_duplicate_guids(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    cyr = FarmFeed(
        "Киев Пресс",
        [FarmItem("ua-1", "Зеленский встретился с Рютте", "<p>" + "Генсек НАТО Рютте заявил о поддержке Украины. " * 5 + "</p>", "/news/1")],
        encoding="windows-1251",
    )
    latin = FarmFeed(
        "Le Monde Test",
        [FarmItem("fr-1", "Réunion à Genève", "<p>" + "Les ministres se sont réunis à Genève pour discuter. " * 5 + "</p>", "news/2")],
        encoding="iso-8859-1",
        fmt="atom",
    )
    body = "<p>" + prose("nodate", 60) + "</p><p>The talks ended on 3 March 2025, officials said.</p>"
    undated = FarmFeed(
        "Undated",
        [
            FarmItem("nd-1", "Talks end without a date", body, "https://u.example/1"),
            FarmItem("nd-2", "No date at all", "<p>" + prose("plain", 60) + "</p>", "https://u.example/2"),
            FarmItem("nd-2", "No date at all (dup)", "<p>" + prose("other", 60) + "</p>", "https://u.example/2b"),
        ],
    )
    urls = [farm.put("cyr", cyr), farm.put("latin", latin), farm.put("undated", undated)]
    await add(sessions, *urls)
    svc = service(sessions, config)
    before = datetime.now(UTC) - timedelta(seconds=1)
    try:
        stats = await svc.run_cycle()
        assert stats.failed == 0, stats.failures
    finally:
        await svc.aclose()
    rows = {a.title: a for a in await articles(sessions)}
    assert set(rows) == {"Зеленский встретился с Рютте", "Réunion à Genève", "Talks end without a date", "No date at all"}
    ua = rows["Зеленский встретился с Рютте"]
    assert "Генсек НАТО Рютте" in ua.text and ua.outlet == "Киев Пресс"
    assert ua.url == farm.url("/news/1")  # relative link made absolute against the feed's address
    assert rows["Réunion à Genève"].url == farm.url("/feeds/news/2")
    assert rows["Talks end without a date"].published_at == datetime(2025, 3, 3, tzinfo=UTC)
    assert rows["Talks end without a date"].published_inferred
    first_seen = rows["No date at all"]
    assert first_seen.published_inferred and first_seen.published_at is not None and first_seen.published_at >= before
    assert first_seen.guid == "127.0.0.1:nd-2"  # short GUIDs are scoped to their site


async def test_edits_same_article_in_two_feeds_and_republished(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    shared = farm_items("shared", 1)[0]
    a_items = farm_items("a", 3) + [shared]
    b_copy = FarmItem(
        guid="b-local-guid-1",
        title=shared.title,
        body=shared.body,
        link=shared.link.replace("utm_source=rss", "utm_medium=social&fbclid=xyz") + "#comments",  # type: ignore[union-attr]
        published=shared.published,
    )
    url_a = farm.put("a", FarmFeed("Outlet A", a_items))
    url_b = farm.put("b", FarmFeed("Outlet B", [b_copy]))
    await add(sessions, url_a, url_b)
    svc = service(sessions, config)
    try:
        first = await svc.run_cycle()
        assert first.new == 4 and first.failed == 0  # the shared article stored once
        # an edit under the same GUID: new title and body
        edited = farm.feeds["a"].items[0]
        old_title = edited.title
        edited.title = old_title + " (updated)"
        edited.body += "<p>Update: the minister later confirmed the figures in a statement.</p>"
        # a re-published entry: same words, new GUID and URL
        again = farm.feeds["a"].items[1]
        farm.feeds["a"].items.append(
            FarmItem("urn:farm:republished", again.title, again.body, "https://news.example/a/republished", again.published)
        )
        farm.changed("a")
        second = await svc.run_cycle(ignore_schedule=True)
        assert (second.new, second.updated, second.failed) == (0, 1, 0), second.failures
        third = await svc.run_cycle(ignore_schedule=True)
        assert (third.new, third.updated) == (0, 0)
    finally:
        await svc.aclose()
    rows = await articles(sessions)
    assert len(rows) == 4
    changed = next(a for a in rows if a.guid == edited.guid)
    assert changed.title == old_title + " (updated)" and changed.revision == 2 and "confirmed the figures" in changed.text
    async with sessions() as s:
        revs = list((await s.execute(select(ArticleRevision))).scalars())
    assert [(r.article_id, r.title) for r in revs] == [(changed.id, old_title)]


async def test_wire_copy_grouped_into_one_story_with_topics(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    wire = prose("wire-story", 150) + " NATO Secretary General Mark Rutte met ministers in Brussels."
    outlets = []
    for i, name in enumerate(("Alpha News", "Beta Daily", "Gamma Times")):
        body = f"<p>{wire}</p><p>{name} contributed reporting.</p>"
        items = [FarmItem(f"urn:{i}:wire", f"Allies meet in Brussels ({name})", body, f"https://{i}.example/wire")]
        items += farm_items(f"own{i}", 2)
        outlets.append(farm.put(f"o{i}", FarmFeed(name, items)))
    await add(sessions, *outlets[:2], topics=("ukraine",))
    await add(sessions, outlets[2])
    svc = service(sessions, config)
    try:
        stats = await svc.run_cycle()
        assert stats.new == 9
    finally:
        await svc.aclose()
    rows = await articles(sessions)
    wires = sorted((a for a in rows if a.guid and a.guid.endswith(":wire")), key=lambda a: a.guid or "")
    assert len(wires) == 3 and len({a.story_id for a in wires}) == 1
    others = [a for a in rows if a not in wires]
    assert len({a.story_id for a in others}) == 6 and not {a.story_id for a in others} & {wires[0].story_id}
    async with sessions() as s:
        story = await s.get(Story, wires[0].story_id)
        assert story is not None and story.article_count == 3
    assert all("nato" in a.topics.split() for a in wires)  # tagged by content
    assert "ukraine" in wires[0].topics.split() and "ukraine" not in wires[2].topics.split()  # the feed's own topic


async def test_failures_are_recorded_backed_off_and_listed(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    good = farm.put("good", FarmFeed("Good", farm_items("good", 2)))
    bad = [farm.url(p) for p in FeedFarm.HOSTILE_PATHS] + [farm.url("/h/xxe"), farm.url("/h/status/429?retry=5000")]
    await add(sessions, good, *bad)
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"timeout_s": 1.0})})
    svc = service(sessions, config)
    try:
        stats = await svc.run_cycle()
        assert stats.fetched == 1 and stats.new == 2
        reasons = dict(stats.failures)
        assert stats.failed == len(bad) and set(reasons) == set(bad)
        assert reasons[farm.url("/h/status/500")] == "HTTP 500"
        assert reasons[farm.url("/h/slow")] == "timeout after 1 s"
        assert reasons[farm.url("/h/loop-a")] == "redirect loop"
        assert reasons[farm.url("/h/big")] == "body over 512 KB cap"
        assert reasons[farm.url("/h/bomb")].startswith("refused: XML entity declarations")
        assert reasons[farm.url("/h/xxe")].startswith("refused: XML entity declarations")
        assert reasons[farm.url("/h/junk")].startswith("malformed feed")
        assert reasons[farm.url("/h/html")] == "not a feed (HTML page; no feed advertised)"
        assert reasons[farm.url("/h/html-alt")] == f"not a feed (HTML page; feed advertised at {farm.url('/feeds/advertised')})"
        assert reasons[farm.url("/h/status/429?retry=5000")] == "HTTP 429 (retry after 5000 s)"
        for _ in range(2):  # keep failing: still polled (with --all), still listed
            await svc.run_cycle(ignore_schedule=True)
    finally:
        await svc.aclose()
    async with sessions() as s:
        health = await feed_health(s)
        feeds = {f.url: f for f in (await s.execute(select(Feed))).scalars()}
    states = {h.url: h.state for h in health}
    assert states[good] == "ok" and all(states[u] == "failing" for u in bad)
    assert health[0].state == "failing"  # failing feeds first
    now = datetime.now(UTC)
    g = feeds[good]
    assert g.last_success_at and g.consecutive_failures == 0 and g.etag and g.backfilled
    assert g.lease_owner is None and g.lease_until is None
    for u in bad:
        f = feeds[u]
        assert f.consecutive_failures == 3 and f.last_error and f.enabled and not f.backfilled
        assert f.lease_owner is None
        # backoff: 3rd failure waits 2x..4x the minimum interval (60 s) with jitter
        assert now + timedelta(seconds=50) < f.next_check_at < now + timedelta(seconds=250) or u.endswith("5000")
    assert feeds[farm.url("/h/status/429?retry=5000")].next_check_at > now + timedelta(seconds=4900)


async def test_schedule_adapts_and_honours_max_age(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    hourly = farm.put("hourly", FarmFeed("Hourly", farm_items("h", 6, step_min=60)))
    cached = farm.put("cached", FarmFeed("Cached", farm_items("c", 6, step_min=4), max_age=1800))
    await add(sessions, hourly, cached)
    svc = service(sessions, config)
    try:
        await svc.run_cycle()
        assert (await svc.run_cycle()).fetched == 0  # nothing due: the database is the schedule
    finally:
        await svc.aclose()
    async with sessions() as s:
        feeds = {f.url: f for f in (await s.execute(select(Feed))).scalars()}
    now = datetime.now(UTC)
    assert feeds[hourly].interval_s == 1800  # half the publisher's hourly rhythm
    assert feeds[cached].interval_s == 120  # every 4 min -> 2 min, but...
    assert feeds[cached].next_check_at > now + timedelta(seconds=1700)  # ...max-age says 30 min


async def test_ssrf_refused_through_the_service(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    url = farm.put("f", FarmFeed("Private", farm_items("p", 2)))
    await add(sessions, url, f"http://localhost:{farm.port}/feeds/f", "http://169.254.169.254/latest/meta-data/")
    svc = service(sessions, config, settings=Settings(allow_private_feeds=False))
    try:
        stats = await svc.run_cycle()
    finally:
        await svc.aclose()
    assert stats.failed == 3 and stats.new == 0
    assert all(r.startswith("refused: resolves to") for _, r in stats.failures)
    assert farm.hits["/feeds/f"] == 0


async def test_config_feeds_synced(sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm) -> None:
    url = farm.put("cfg", FarmFeed("Configured", farm_items("cfg", 2)))
    cfg = config.model_copy(update={"feeds": [FeedConfig(url=url, topics=["nato"])]})
    svc = service(sessions, cfg)
    try:
        stats = await svc.run_cycle()
    finally:
        await svc.aclose()
    assert stats.new == 2
    rows = await articles(sessions)
    assert all("nato" in a.topics.split() for a in rows)
    async with sessions.begin() as s:  # removed from the config: disabled, not deleted
        assert (await sync_config_feeds(s, config))["disabled"] == 1
    async with sessions() as s:
        feed = (await s.execute(select(Feed))).scalar_one()
        assert not feed.enabled and feed.source == "config"


async def test_expired_lease_is_taken_over(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    live = farm.put("live", FarmFeed("Live lease", farm_items("live", 1)))
    dead = farm.put("dead", FarmFeed("Dead lease", farm_items("dead", 1)))
    await add(sessions, live, dead)
    svc = service(sessions, config)
    try:
        await svc.run_cycle()  # start-up done (config sync; leases left by an earlier run handed back)
        now = datetime.now(UTC)
        async with sessions.begin() as s:
            await s.execute(update(Feed).where(Feed.url == live).values(lease_owner="other", lease_until=now + timedelta(minutes=5)))
            await s.execute(update(Feed).where(Feed.url == dead).values(lease_owner="crashed", lease_until=now - timedelta(seconds=1)))
        stats = await svc.run_cycle(ignore_schedule=True)
    finally:
        await svc.aclose()
    assert stats.not_modified == 1 and stats.fetched == 0
    assert farm.hits["/feeds/dead"] == 2 and farm.hits["/feeds/live"] == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_process_pool_parsing(sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm) -> None:
    urls = [farm.put(f"p{i}", FarmFeed(f"P{i}", farm_items(f"p{i}", 5))) for i in range(4)]
    await add(sessions, *urls, farm.url("/h/bomb"))
    svc = service(sessions, config, parse_processes=2)
    try:
        stats = await svc.run_cycle()
    finally:
        await svc.aclose()
    assert (stats.fetched, stats.new, stats.failed) == (4, 20, 1)


@pytest.mark.parametrize("processes", [2, 0])
async def test_statements_extracted_while_parsing_match_the_archive_path(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm, processes: int
) -> None:
    """The parse workers (or the parse thread) extract statements; the archive stores exactly what
    extracting each stored article's text afresh finds, speakers resolved, sources at the right offsets."""
    from bot.archive.statement_store import gazetteer_for
    from bot.statements import extract_with
    from bot.store.models import StatementRow, StatementSource

    quote = "<p>\u201cWe will defend every inch of allied territory,\u201d Rutte told reporters. He said that allies would buy more air defence.</p>"
    items = [FarmItem(f"urn:q:{i}", f"Quote {i}", f"<p>{prose(i, 40)}</p>" + (quote if i % 2 else ""), f"https://q.example/{i}") for i in range(6)]
    await add(sessions, farm.put("quotes", FarmFeed("Quotes", items)))
    svc = service(sessions, config, parse_processes=processes)
    try:
        stats = await svc.run_cycle()
    finally:
        await svc.aclose()
    assert (stats.new, stats.failed) == (6, 0)
    async with sessions() as s:
        stored = (await s.execute(select(Article))).scalars().all()
        sources = (await s.execute(select(StatementSource.article_id, StatementSource.start, StatementSource.text))).all()
        speakers = set((await s.execute(select(StatementRow.speaker))).scalars())
    expected = {
        (a.id, f.start, f.text)
        for a in stored
        for f in extract_with(a.text, gazetteer_for(config), a.published_at.date() if a.published_at else None)
        if f.text.strip()
    }
    assert set(sources) == expected and len(expected) >= 6
    assert speakers == {"Mark Rutte"}


async def test_an_ingest_writes_statements_as_storing_its_articles_one_by_one_would(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm, tmp_path: Path
) -> None:
    """The writers record a batch's statements at once (two writers at once on PostgreSQL): the
    statements stored (speakers, wording, outlets, sources) are those of storing each article in turn."""
    from bot.archive.articles import ArticleIn, store_article
    from bot.archive.hooks import after_store
    from bot.store.db import make_engine, session_factory
    from bot.store.migrate import upgrade
    from bot.store.models import StatementRow

    full = "We will defend every inch of allied territory and we will not be intimidated"
    variants = [
        f"\u201c{full},\u201d Rutte told reporters.",  # curly marks
        f'"{full}," the NATO chief said.',  # straight marks, an anonymous title
        "Rutte said allies \u201cwill defend every inch of allied territory.\u201d",  # a partial quote
        f"\u201c{full.replace('will not', 'won`t')},\u201d Rutte said.",  # a small edit: the fuzzy ratio
        "Zelensky said that Ukraine would hold the line until spring.",  # reported speech
    ]
    urls = []
    for f in range(3):
        items = [
            FarmItem(f"urn:s:{f}:{i}", f"Story {f}-{i}", f"<p>{prose(f'{f}{i}', 30)}</p><p>{variants[(f + i) % len(variants)]}</p>",
                     f"https://s{f}.example/{i}")
            for i in range(5)
        ]
        urls.append(farm.put(f"s{f}", FarmFeed(f"Outlet {f}", items)))
    await add(sessions, *urls)
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    svc = service(sessions, config, writers=2 if postgres else 1)  # two writers at once on PostgreSQL
    try:
        stats = await svc.run_cycle()
    finally:
        await svc.aclose()
    assert (stats.new, stats.failed) == (15, 0)

    def shape(rows: list[StatementRow]) -> set[tuple[object, ...]]:
        return {(r.speaker, r.kind, r.text, r.outlets, r.sources) for r in rows}

    async with sessions() as s:
        stored = (await s.execute(select(Article).order_by(Article.id))).scalars().all()
        ingested = shape(list((await s.execute(select(StatementRow))).scalars()))
    engine = make_engine(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    try:
        await upgrade(engine)
        one = session_factory(engine)
        for a in stored:  # in the order the writer stored them
            async with one.begin() as s:
                item = ArticleIn(text=a.text, title=a.title, url=a.url, guid=a.guid, outlet=a.outlet, published_at=a.published_at)
                await after_store(s, await store_article(s, item), config, alerts=False)
        async with one() as s:
            expected = shape(list((await s.execute(select(StatementRow))).scalars()))
    finally:
        await engine.dispose()
    assert ingested == expected
    assert any(outlets == 3 for *_, outlets, _sources in ingested)  # one quote, three outlets
    assert {speaker for speaker, *_ in ingested} >= {"Mark Rutte", "Volodymyr Zelensky"}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_workers_on_postgres_poll_each_feed_once(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, farm: FeedFarm
) -> None:
    farm.slow_s = 0.05
    shared = farm_items("both", 1)
    urls = [farm.put(f"f{i}", FarmFeed(f"F{i}", farm_items(f"f{i}", 3) + shared)) for i in range(40)]
    await add(sessions, *urls)
    cfg = config.model_copy(update={"ingest": Limits(min_interval_s=60, timeout_s=5.0, concurrency=4)})
    one, two = service(sessions, cfg, "worker-1"), service(sessions, cfg, "worker-2")
    try:
        a, b = await asyncio.gather(one.run_cycle(), two.run_cycle())
    finally:
        await one.aclose()
        await two.aclose()
    assert a.fetched + b.fetched == 40 and a.failed + b.failed == 0, (a.failures, b.failures)
    assert a.fetched > 0 and b.fetched > 0  # the work was really split
    assert all(farm.hits[f"/feeds/f{i}"] == 1 for i in range(40))
    assert a.new + b.new == 121 and await count(sessions, Article) == 121  # the shared item once


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_schedule_adds_one_stable_in_memory_job(sessions: async_sessionmaker[AsyncSession], config: AppConfig) -> None:
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler()
    scheduler.start(paused=True)
    svc = service(sessions, config)
    try:
        svc.schedule(scheduler, every_s=30)
        svc.schedule(scheduler, every_s=45)  # a restart or re-wire replaces, never piles up
        jobs = scheduler.get_jobs()
        assert [j.id for j in jobs] == ["ingest-cycle"]
        job = jobs[0]
        assert job.coalesce and job.max_instances == 1 and job.trigger.interval.total_seconds() == 45
        assert isinstance(scheduler._lookup_jobstore(job._jobstore_alias), MemoryJobStore)
    finally:
        scheduler.shutdown(wait=False)
        await svc.aclose()
