"""The command core over a real, seeded archive on SQLite and PostgreSQL; `handle()` fuzzed."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.archive.seed import load_seeds
from bot.chat.messages import Context, Result
from bot.chat.plaintext import render_text
from bot.commands.core import handle, make_handler
from bot.commands.figure import timeline_text
from bot.commands.handlers import Deps
from bot.config import AppConfig
from bot.store.db import make_engine, session_factory
from bot.store.models import Channel, Delivery, Feed, StatementRow, Subscription
from tests.conftest import SEEDS, _admin

_ids = itertools.count()

CONSOLE = Context(platform="console", channel_id="console", is_admin=True)
SLACK_USER = Context(platform="slack", channel_id="C1", user_id="U1", is_admin=False, channel_name="newsroom")
SLACK_ADMIN = Context(platform="slack", channel_id="C1", user_id="U2", is_admin=True, channel_name="newsroom")


async def _seed(url: str, config: AppConfig) -> None:
    engine = make_engine(url)
    try:
        await load_seeds(session_factory(engine), SEEDS, config)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def seeded_sqlite(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, app_config: AppConfig) -> Path:
    """Seeding runs extraction (seconds); do it once and copy the result per test."""
    path = tmp_path_factory.mktemp("seeded") / "seeded.db"
    shutil.copy(sqlite_template, path)
    asyncio.run(_seed(f"sqlite:///{path}", app_config))
    return path


@pytest.fixture(scope="session")
def seeded_pg(pg_template: str, app_config: AppConfig) -> str:
    asyncio.run(_admin(f"{pg_template}/postgres", "DROP DATABASE IF EXISTS newsbot_seeded",
                       "CREATE DATABASE newsbot_seeded TEMPLATE newsbot_tmpl"))
    asyncio.run(_seed(f"{pg_template}/newsbot_seeded", app_config))
    return pg_template


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh copy of the seeded archive on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "seeded.db"
        shutil.copy(request.getfixturevalue("seeded_sqlite"), path)
        return f"sqlite:///{path}"
    base: str = request.getfixturevalue("seeded_pg")
    name = f"s_{os.getpid()}_{next(_ids)}"
    asyncio.run(_admin(f"{base}/postgres", f"CREATE DATABASE {name} TEMPLATE newsbot_seeded"))
    return f"{base}/{name}"


@pytest.fixture
async def deps(seeded_url: str, app_config: AppConfig) -> AsyncIterator[Deps]:
    engine = make_engine(seeded_url)
    try:
        yield Deps.build(session_factory(engine), app_config)
    finally:
        await engine.dispose()


async def test_quotes_by_name_alias_and_title(deps: Deps) -> None:
    async with deps.sessions() as s:
        stored = set((await s.execute(select(StatementRow.text).where(StatementRow.speaker == "Mark Rutte"))).scalars())
    assert stored, "the seeds quote Rutte"
    r = await handle("quotes rutte", CONSOLE, deps)
    assert r.kind == "quotes" and r.ok and r.title == "Quotes: Mark Rutte"
    shown = [i.title for s in r.sections for i in s.items]
    assert 0 < len(shown) <= deps.page_size
    said = [re.sub(r"^(Rutte [a-z ]+: |Rutte \([a-z ]+\): |According to Rutte: )", "", t) for t in shown]
    assert all(t.strip("“”…") in {x for x in stored} or t.strip("“”…")[:40] in " ".join(stored) for t in said), shown
    by_title = await handle("/news quotes the nato chief", CONSOLE, deps)
    assert by_title.title == "Quotes: Mark Rutte"
    assert [i.title for s in by_title.sections for i in s.items] == shown


async def test_quotes_pages_until_exhausted(deps: Deps) -> None:
    async with deps.sessions() as s:
        total = len(list((await s.execute(select(StatementRow.id).where(StatementRow.speaker == "Mark Rutte"))).scalars()))
    seen: list[str] = []
    cmd = "quotes rutte"
    for _ in range(20):
        r = await handle(cmd, CONSOLE, deps)
        seen += [i.title + (i.meta or "") for s in r.sections for i in s.items]
        if r.page is None:
            break
        cmd = r.page.next_command
    assert len(seen) == total  # every statement once, none cut off
    assert len(set(seen)) == len(seen) or total > len(set(seen))


async def test_fuzzy_name_suggests_instead_of_guessing(deps: Deps) -> None:
    r = await handle("quotes zelenksy", CONSOLE, deps)
    assert not r.ok and r.suggestions[0] == "Volodymyr Zelensky"
    assert "Did you mean Volodymyr Zelensky?" in render_text(r)
    unknown = await handle("quotes xqzv", CONSOLE, deps)
    assert not unknown.ok and "Tracked figures" in (unknown.text or "")


async def test_quotes_filters(deps: Deps) -> None:
    deps.page_size = 100
    recent = await handle("quotes rutte since:1h", CONSOLE, deps)
    # Seeds are dated 2025; only statements from the undated seed count as "seen just now".
    assert recent.ok and all("2025-" not in (i.meta or "") for s in recent.sections for i in s.items)
    old = await handle("quotes rutte since:2025-01-01 topic:nato", CONSOLE, deps)
    assert old.sections and len(old.sections[0].items) > sum(len(s.items) for s in recent.sections)
    bad = await handle("quotes rutte since:yesterdayish", CONSOLE, deps)
    assert bad.kind == "usage" and "not a time" in (bad.text or "")
    bad_kind = await handle("quotes rutte kind:maybe", CONSOLE, deps)
    assert bad_kind.kind == "usage"


async def test_figure_profile_and_timeline(deps: Deps) -> None:
    r = await handle("figure zelenskyy", CONSOLE, deps)
    assert r.kind == "figure" and r.title == "Figure: Volodymyr Zelensky"
    headings = [s.heading for s in r.sections]
    assert "Quoted per week (articles)" in headings
    timeline = next(s.text for s in r.sections if s.heading == "Quoted per week (articles)")
    assert timeline and "█" in timeline


def test_timeline_is_weekly_and_ends_at_latest_week() -> None:
    from datetime import UTC, datetime

    dates = [datetime(2025, 6, 9, tzinfo=UTC), datetime(2025, 6, 10, tzinfo=UTC), datetime(2025, 5, 26, tzinfo=UTC)]
    lines = timeline_text(dates, weeks=3).splitlines()
    assert [ln.split()[0] for ln in lines] == ["2025-05-26", "2025-06-02", "2025-06-09"]
    assert [ln.split()[-1] for ln in lines] == ["1", "0", "2"]
    assert timeline_text([]) == "No quotes yet."


async def test_search_is_paged(deps: Deps) -> None:
    deps.page_size = 2
    r = await handle("search nato", CONSOLE, deps)
    assert r.kind == "search" and len(r.sections[0].items) == 2 and r.page is not None
    assert r.page.next_command == "search nato page:2"
    r2 = await handle(r.page.next_command, CONSOLE, deps)
    first = {i.title for i in r.sections[0].items}
    assert first.isdisjoint({i.title for i in r2.sections[0].items})
    empty = await handle("search zzzunfindable", CONSOLE, deps)
    assert empty.ok and "No matches" in (empty.text or "")


async def test_subscribe_and_unsubscribe_store_interests(deps: Deps) -> None:
    changed: list[int] = []

    async def on_change() -> None:
        changed.append(1)

    deps.on_subscriptions_changed = on_change
    r = await handle("subscribe rutte", SLACK_USER, deps)
    assert r.ok and r.kind == "subscribe", render_text(r)
    r = await handle('subscribe topic:nato digest:"0 9 * * 1-5" tz:Europe/Amsterdam', SLACK_USER, deps)
    assert r.ok, render_text(r)
    r = await handle('subscribe keyword:"air defence"', SLACK_USER, deps)
    assert r.ok
    async with deps.sessions() as s:
        ch = (await s.execute(select(Channel).where(Channel.platform == "slack", Channel.external_id == "C1"))).scalar_one()
        subs = {(x.kind, x.value): x for x in (await s.execute(select(Subscription).where(Subscription.channel_id == ch.id))).scalars()}
    assert ch.name == "newsroom"
    assert subs[("figure", "Mark Rutte")].alerts and not subs[("figure", "Mark Rutte")].digest
    nato = subs[("topic", "nato")]
    assert nato.digest and not nato.alerts and (nato.digest_cron, nato.timezone) == ("0 9 * * 1-5", "Europe/Amsterdam")
    assert ("keyword", "air defence") in subs
    listing = await handle("subscribe", SLACK_USER, deps)
    assert "Mark Rutte: alerts" in render_text(listing)
    bad = await handle('subscribe topic:nato digest:"61 8 * * *"', SLACK_USER, deps)
    assert bad.kind == "usage" and "cron" in (bad.text or "")
    bad_tz = await handle("subscribe topic:nato digest:on tz:Mars/Olympus", SLACK_USER, deps)
    assert bad_tz.kind == "usage" and "time zone" in (bad_tz.text or "")
    typo = await handle("subscribe figure:zelenksy", SLACK_USER, deps)
    assert not typo.ok and typo.suggestions
    gone = await handle("unsubscribe the nato chief", SLACK_USER, deps)
    assert gone.ok, render_text(gone)
    again = await handle("unsubscribe rutte", SLACK_USER, deps)
    assert not again.ok
    await handle("unsubscribe all", SLACK_USER, deps)
    async with deps.sessions() as s:
        assert not list((await s.execute(select(Subscription).where(Subscription.channel_id == ch.id))).scalars())
    assert len(changed) == 5  # three subscribes, two unsubscribes


async def test_feeds_add_remove_admin_only(deps: Deps) -> None:
    denied = await handle("feeds add https://example.org/rss", SLACK_USER, deps)
    assert not denied.ok and "admins" in (denied.text or "").lower()
    bad = await handle("feeds add ftp://example.org/rss", SLACK_ADMIN, deps)
    assert bad.kind == "usage"
    ok = await handle("feeds add https://example.org/rss topic:nato", SLACK_ADMIN, deps)
    assert ok.ok, render_text(ok)
    dup = await handle("feeds add https://example.org/rss", SLACK_ADMIN, deps)
    assert not dup.ok
    async with deps.sessions() as s:
        feed = (await s.execute(select(Feed).where(Feed.url == "https://example.org/rss"))).scalar_one()
    assert feed.source == "chat" and "nato" in feed.topics.split()
    listing = await handle("feeds", SLACK_USER, deps)
    assert "https://example.org/rss" in render_text(listing)
    removed = await handle(f"feeds remove #{feed.id}", SLACK_ADMIN, deps)
    assert removed.ok
    assert "No feeds" in render_text(await handle("feeds list", SLACK_USER, deps))


async def test_status_reports_failing_feeds_and_dead_deliveries(deps: Deps) -> None:
    async with deps.sessions.begin() as s:
        s.add(Feed(url="https://down.example/rss", consecutive_failures=5, last_error="HTTP 503"))
        ch = Channel(platform="slack", external_id="CGONE", paused=True, paused_reason="channel_not_found")
        s.add(ch)
        await s.flush()
        s.add(Delivery(idempotency_key="alert:x", channel_id=ch.id, kind="alert", status="dead", last_error="channel_not_found"))
        s.add(Delivery(idempotency_key="alert:y", channel_id=ch.id, kind="alert", status="pending"))
    r = await handle("status", CONSOLE, deps)
    text = render_text(r)
    assert r.title == "Status (needs attention)"
    assert "https://down.example/rss" in text and "HTTP 503" in text
    assert "dead: 1" in text and "pending: 1" in text
    assert "channel_not_found" in text and "Paused channels" in text


async def test_help_digest_and_unknown(deps: Deps) -> None:
    h = await handle("help", CONSOLE, deps)
    assert all(f"/news {name}" in render_text(h) for name in ("search", "quotes", "figure", "digest", "status"))
    assert "quotes FIGURE" in (await handle("help quotes", CONSOLE, deps)).text  # type: ignore[operator]
    d = await handle("digest nato since:2y", CONSOLE, deps)
    assert d.kind == "digest" and d.sections[0].heading == "NATO" and d.sections[0].items
    assert (await handle("digest atlantis", CONSOLE, deps)).kind == "usage"
    u = await handle("frobnicate", CONSOLE, deps)
    assert u.kind == "usage" and not u.ok


async def test_unexpected_failure_becomes_error_result(deps: Deps, tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'missing' / 'nothing-here.db'}")  # no schema: every query fails
    try:
        bad = Deps.build(session_factory(broken), deps.config)
        r = await make_handler(bad)("quotes rutte", CONSOLE)
        assert r.kind == "error" and not r.ok
    finally:
        await broken.dispose()


@pytest.mark.timeout(240)
def test_handle_never_raises_fuzzed(seeded_sqlite: Path, tmp_path: Path, app_config: AppConfig) -> None:
    """Any text, any context → a Result (one seeded SQLite archive, reused across examples)."""
    path = tmp_path / "fuzz.db"
    shutil.copy(seeded_sqlite, path)
    loop = asyncio.new_event_loop()
    engine = make_engine(f"sqlite:///{path}")
    sessions = session_factory(engine)
    deps = Deps.build(sessions, app_config)
    words = st.sampled_from(
        ["search", "quotes", "figure", "digest", "subscribe", "unsubscribe", "feeds", "status", "help", "/news",
         "rutte", "the nato chief", "zelenksy", "since:", "since:7d", "topic:", "topic:nato", "page:", "page:99999",
         "digest:", 'digest:"0 8 * * *"', "tz:", "keyword:", "figure:", "add", "remove", "#1", "all", '"', "“", "-",
         "OR", "kind:", "alerts:off", "https://example.org/x", "\x00", "\n"]
    )
    texts = st.one_of(st.text(max_size=120), st.lists(words | st.text(max_size=8), max_size=8).map(" ".join))
    contexts = st.builds(Context, platform=st.sampled_from(["console", "slack", "discord"]),
                         channel_id=st.text(min_size=1, max_size=20), is_admin=st.booleans())

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts, contexts)
    def check(text: str, ctx: Context) -> None:
        r = loop.run_until_complete(handle(text, ctx, deps))
        assert isinstance(r, Result)
        assert r.kind != "error", (text, r.text)  # bad input is a usage reply, never an internal error
        render_text(r)
        r.to_dict()

    try:
        check()
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
