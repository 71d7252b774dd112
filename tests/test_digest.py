"""Digests: stories with their outlets, top statements, feed health; schedules; exactly-once posting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console import ConsoleAdapter
from bot.chat.channels import Interest, get_or_create_channel, set_interest
from bot.chat.delivery import DeliveryOptions, DeliveryWorker
from bot.chat.digests import DigestPlan, build_digest, digest_plans, enqueue_digest, is_empty, schedule_digests
from bot.chat.messages import Result
from bot.chat.plaintext import render_text
from bot.config import AppConfig
from bot.store.models import Article, Channel, Delivery, Feed, StatementRow, StatementSource, Story
from tests.test_delivery import (  # noqa: F401  (fixture helpers)
    PLATFORM,
    ChatServer,
    LoopAdapter,
    chat,  # noqa: F401
)

NOW = datetime(2025, 6, 10, 8, 0, tzinfo=UTC)


async def archive(sessions: async_sessionmaker[AsyncSession]) -> None:
    """One story carried by three outlets, one single-outlet story, an old story, a statement, a failing feed."""
    async with sessions.begin() as s:
        story = Story(title="NATO summit agrees on spending", article_count=3)
        s.add(story)
        await s.flush()
        arts = []
        for i, outlet in enumerate(["Reuters", "BBC", "DW"]):
            a = Article(url=f"https://{outlet.lower()}.example/summit", title=f"Summit story ({outlet})", outlet=outlet,
                        story_id=story.id, published_at=NOW - timedelta(hours=2 + i), text="NATO summit text",
                        content_hash=f"h{i}", topics="nato")
            arts.append(a)
        arts.append(Article(url="https://kyiv.example/1", title="Kyiv air defence", outlet="Kyiv Independent",
                            published_at=NOW - timedelta(hours=5), text="Ukraine text", content_hash="k",
                            topics="ukraine"))
        arts.append(Article(url="https://old.example/1", title="Old news", outlet="Reuters",
                            published_at=NOW - timedelta(days=3), text="NATO old", content_hash="o", topics="nato"))
        s.add_all(arts)
        await s.flush()
        st = StatementRow(fingerprint="f1", speaker="Mark Rutte", figure=True, kind="direct",
                       text="we will spend five percent", normalised="we will spend five percent",
                       first_article_id=arts[0].id, first_seen_at=NOW - timedelta(hours=2), outlets=3, sources=3)
        s.add(st)
        await s.flush()
        for a in arts[:3]:
            s.add(StatementSource(statement_id=st.id, article_id=a.id, kind="direct", text=st.text, start=0, end=5))
        s.add(Feed(url="https://down.example/rss", consecutive_failures=4, last_error="HTTP 500"))


async def test_digest_lists_stories_with_outlets_statements_and_health(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig
) -> None:
    await archive(sessions)
    async with sessions() as s:
        r = await build_digest(s, app_config, topics=["nato", "ukraine"], since=NOW - timedelta(hours=24), until=NOW)
    text = render_text(r)
    nato, ukraine = r.sections[0], r.sections[1]
    assert nato.heading == "NATO" and len(nato.items) == 1  # three articles, one story; the old one is out
    assert nato.items[0].title == "NATO summit agrees on spending"
    assert nato.items[0].meta == "Reuters, BBC, DW · 3 articles"
    assert [i.title for i in ukraine.items] == ["Kyiv air defence"]
    said = next(s for s in r.sections if s.heading == "What they said")
    assert said.items[0].title == "Mark Rutte: “we will spend five percent”"
    assert "reported by 3 outlets" in (said.items[0].meta or "")
    assert "Feed health" in text and "https://down.example/rss" in text
    assert not is_empty(r) and Result.from_dict(r.to_dict()) == r  # survives the outbox's JSON


async def test_digest_plans_and_stable_jobs(sessions: async_sessionmaker[AsyncSession], app_config: AppConfig) -> None:
    async with sessions.begin() as s:
        ch = await get_or_create_channel(s, "slack", "C1")
        await set_interest(s, ch, Interest("topic", "nato", alerts=False, digest=True, digest_cron="0 8 * * *",
                                           timezone="Europe/Amsterdam"))
        await set_interest(s, ch, Interest("topic", "ukraine", alerts=False, digest=True, digest_cron="0 8 * * *",
                                           timezone="Europe/Amsterdam"))
        other = await get_or_create_channel(s, "discord", "D1")
        await set_interest(s, other, Interest("figure", "Mark Rutte", alerts=True, digest=True, digest_cron="30 17 * * 1-5"))
        paused = await get_or_create_channel(s, "slack", "CP")
        paused.paused = True
        await set_interest(s, paused, Interest("topic", "nato", digest=True, digest_cron="0 9 * * *"))
    async with sessions() as s:
        plans = await digest_plans(s, app_config)
        slack_only = await digest_plans(s, app_config, platforms=["slack"])
    assert [(p.cron, p.timezone, p.topics) for p in plans] == [
        ("0 8 * * *", "Europe/Amsterdam", ("nato", "ukraine")),
        ("30 17 * * 1-5", "UTC", tuple(app_config.topics)),  # no topic subscriptions: every topic
    ]
    assert len(slack_only) == 1
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def job(channel_id: int, topics: list[str]) -> None:
        pass

    ids = schedule_digests(scheduler, plans, job)
    again = schedule_digests(scheduler, plans, job)  # a re-sync replaces, never duplicates
    assert ids == again and len(scheduler.get_jobs()) == 2
    job0 = scheduler.get_job(ids[0])
    assert job0.coalesce and job0.max_instances == 1 and str(job0.trigger.timezone) == "Europe/Amsterdam"
    schedule_digests(scheduler, plans[:1], job)
    assert [j.id for j in scheduler.get_jobs()] == [ids[0]]  # unsubscribed schedules go away
    bad = schedule_digests(scheduler, [DigestPlan(99, "not a cron", "UTC", ())], job)
    assert bad == []
    scheduler.start(paused=True)
    try:
        schedule_digests(scheduler, plans, job)
        schedule_digests(scheduler, plans, job)
        assert sorted(j.id for j in scheduler.get_jobs()) == sorted(ids)
    finally:
        scheduler.shutdown(wait=False)


async def test_digest_reaches_channel_exactly_once_through_429(
    sessions: async_sessionmaker[AsyncSession], app_config: AppConfig, chat: tuple[ChatServer, LoopAdapter]  # noqa: F811
) -> None:
    server, adapter = chat
    await archive(sessions)
    async with sessions.begin() as s:
        ch = Channel(platform=PLATFORM, external_id="NEWSROOM", last_digest_at=NOW - timedelta(hours=24))
        s.add(ch)
        await s.flush()
        cid = ch.id
    first = await enqueue_digest(sessions, app_config, cid, ["nato"], now=NOW)
    same_minute = await enqueue_digest(sessions, app_config, cid, ["nato"], now=NOW + timedelta(seconds=20))
    assert first is not None and same_minute is None  # the window already moved on, and the key is taken
    server.failures["NEWSROOM"] = [429, 429]
    worker = DeliveryWorker(sessions, {PLATFORM: adapter}, options=DeliveryOptions(pace_s={PLATFORM: 0.0}))
    await worker.drain()
    await worker.drain()
    assert server.keys("NEWSROOM") == [f"digest:{cid}:{NOW.isoformat()}"]
    assert "NATO summit agrees on spending" in server.messages[0]["text"]
    async with sessions() as s:
        row = (await s.execute(select(Delivery))).scalar_one()
        ch2 = await s.get(Channel, cid)
    assert row.status == "sent" and ch2 is not None and ch2.last_digest_at == NOW
    # Next day: no new stories, but a failing feed is still worth telling the desk about.
    nxt = await enqueue_digest(sessions, app_config, cid, ["nato"], now=NOW + timedelta(days=1))
    async with sessions() as s:
        row2 = await s.get(Delivery, nxt)
    assert row2 is not None
    text = render_text(Result.from_dict(row2.payload))
    assert "No new stories." in text and "https://down.example/rss" in text
    async with sessions.begin() as s:
        for f in (await s.execute(select(Feed))).scalars():
            f.consecutive_failures = 0
    # And when nothing is new and nothing fails, no message at all.
    assert await enqueue_digest(sessions, app_config, cid, ["nato"], now=NOW + timedelta(days=2)) is None


async def test_console_prints_digest_and_alert(sessions: async_sessionmaker[AsyncSession], app_config: AppConfig) -> None:
    import io

    await archive(sessions)
    out = io.StringIO()
    console = ConsoleAdapter(io.StringIO(""), out, banner=False)
    async with sessions.begin() as s:
        ch = await get_or_create_channel(s, "console", "console")
        ch.last_digest_at = NOW - timedelta(hours=24)
        cid = ch.id
    await enqueue_digest(sessions, app_config, cid, ["nato"], now=NOW)
    await DeliveryWorker(sessions, {"console": console}).drain()
    printed = out.getvalue()
    assert printed.startswith("[DIGEST → console]") and "NATO summit agrees on spending" in printed
    assert "Reuters, BBC, DW" in printed
