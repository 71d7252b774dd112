"""Digests: the top stories per topic and the top new statements since the channel's last digest.

`build_digest` reads a bounded slice of the archive (the newest articles of the window, through the
published-date index) and `render_digest` turns plain rows into a `Result` (pure). The schedule is
one APScheduler cron job per (channel, cron, time zone) with a stable id, `replace_existing`,
`coalesce` and `max_instances=1`, so restarts and re-syncs never pile up copies. A fired job writes
the digest into the outbox (`kind="digest"`, key `digest:{channel}:{window end}`) and the delivery
worker posts it like an alert: exactly once per window, retried through rate limits.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat.messages import Action, Item, Result, Section
from bot.config import AppConfig
from bot.runtime.metrics import DIGESTS_QUEUED
from bot.store.models import (
    Article,
    Channel,
    Delivery,
    Feed,
    StatementRow,
    StatementSource,
    Story,
    Subscription,
    utcnow,
)
from bot.store.search import display_title

log = logging.getLogger(__name__)

SCAN_ARTICLES = 3000  # newest articles of the window looked at; a day of 1,000 feeds fits
SCAN_STATEMENTS = 600
STORIES_PER_TOPIC = 5
TOP_STATEMENTS = 5
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=7)
JOB_PREFIX = "digest:"


@dataclass
class StoryLine:
    key: str
    title: str
    url: str | None
    outlets: list[str] = field(default_factory=list)
    articles: int = 0
    newest: datetime | None = None
    topics: set[str] = field(default_factory=set)

    def line(self) -> Item:
        shown = self.outlets[:4]
        more = len(self.outlets) - len(shown)
        who = ", ".join(shown) + (f" +{more}" if more > 0 else "")
        count = f"{self.articles} articles" if self.articles > 1 else None
        meta = " · ".join(p for p in (who or None, count) if p) or None
        outlets = (Action("All outlets", f"story {self.key}"),) if len(self.outlets) > 1 or self.articles > 1 else ()
        return Item(title=self.title, url=self.url, meta=meta, actions=outlets)


@dataclass(frozen=True)
class QuoteLine:
    speaker: str
    text: str
    kind: str
    outlets: int
    outlet: str | None
    url: str | None

    def line(self) -> Item:
        quote = f"“{_clip(self.text, 280)}”" if self.kind == "direct" else _clip(self.text, 280)
        also = f"reported by {self.outlets} outlets" if self.outlets > 1 else None
        meta = " · ".join(p for p in (self.outlet, also) if p) or None
        follow = (Action(f"Subscribe to {self.speaker}", f"subscribe figure:{self.speaker}"),)
        return Item(title=f"{self.speaker}: {quote}", url=self.url, meta=meta, actions=follow)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def group_stories(rows: Sequence[Any], story_meta: dict[int, tuple[str | None, int]]) -> list[StoryLine]:
    """Articles → stories (a story = its articles' outlets), ranked by outlets, size, recency (pure)."""
    stories: dict[str, StoryLine] = {}
    for r in rows:  # newest first
        key = f"s{r.story_id}" if r.story_id is not None else f"a{r.id}"
        st = stories.get(key)
        if st is None:
            s_title, s_count = story_meta.get(r.story_id, (None, 1)) if r.story_id is not None else (None, 1)
            st = stories[key] = StoryLine(key, s_title or display_title(r.title, r.head or ""), r.url,
                                          articles=s_count, newest=r.published_at)
        if r.outlet and r.outlet not in st.outlets:
            st.outlets.append(r.outlet)
        if r.url and not st.url:
            st.url = r.url
        st.articles = max(st.articles, 1)
        st.topics.update((r.topics or "").split())
    return sorted(
        stories.values(),
        key=lambda s: (len(s.outlets), s.articles, s.newest or datetime.min.replace(tzinfo=UTC)),
        reverse=True,
    )


def render_digest(
    topics: Sequence[str], since: datetime, until: datetime, stories: list[StoryLine], quotes: list[QuoteLine],
    failing: list[tuple[str, int, str | None]],
) -> Result:
    """The digest as a Result (pure): a section per topic, statements, then feed health if failing."""
    sections: list[Section] = []
    if topics:
        for topic in topics:
            picked = [s for s in stories if topic in s.topics][:STORIES_PER_TOPIC]
            sections.append(Section(heading=topic.upper() if len(topic) <= 4 else topic.title(),
                                    items=tuple(s.line() for s in picked),
                                    text=None if picked else "No new stories."))
    else:
        picked = stories[:STORIES_PER_TOPIC]
        sections.append(Section(heading="Top stories", items=tuple(s.line() for s in picked),
                                text=None if picked else "No new stories."))
    if quotes:
        sections.append(Section(heading="What they said", items=tuple(q.line() for q in quotes)))
    if failing:
        sections.append(Section(
            heading="Feed health",
            text=f"{len(failing)} feed(s) failing",
            items=tuple(Item(title=url, meta=f"{n} failures in a row", body=_clip(err or "", 160) or None)
                        for url, n, err in failing[:5]),
        ))
    window = f"{since.astimezone(UTC):%Y-%m-%d %H:%M} – {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return Result(kind="digest", title="Digest: " + (", ".join(topics) if topics else "all topics"), text=window,
                  sections=tuple(sections), ephemeral=False)


def is_empty(result: Result) -> bool:
    """Nothing new and nothing failing: not worth a message."""
    return all(not s.items for s in result.sections)


async def build_digest(
    session: AsyncSession, config: AppConfig, *, topics: Sequence[str], since: datetime, until: datetime
) -> Result:
    head = func.substr(Article.text, 1, 200).label("head")
    rows = (
        await session.execute(
            select(Article.id, Article.story_id, Article.title, Article.url, Article.outlet, Article.published_at,
                   Article.topics, head)
            .where(Article.published_at >= since, Article.published_at < until)
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(SCAN_ARTICLES)
        )
    ).all()
    wanted = set(topics)
    if wanted:
        rows = [r for r in rows if wanted & set((r.topics or "").split())]
    story_ids = {r.story_id for r in rows if r.story_id is not None}
    story_meta: dict[int, tuple[str | None, int]] = {}
    if story_ids:
        for sid, title, count in (
            await session.execute(select(Story.id, Story.title, Story.article_count).where(Story.id.in_(story_ids)))
        ).all():
            story_meta[sid] = (title, int(count or 1))
    stories = group_stories(rows, story_meta)

    article_ids = [r.id for r in rows][:SCAN_ARTICLES]
    quotes: list[QuoteLine] = []
    if article_ids:
        st_rows = (
            await session.execute(
                select(StatementRow, Article.outlet, Article.url)
                .join(StatementSource, StatementSource.statement_id == StatementRow.id)
                .join(Article, Article.id == StatementSource.article_id)
                .where(StatementSource.article_id.in_(article_ids), StatementRow.figure.is_(True),
                       StatementRow.first_seen_at >= since)
                .order_by(StatementRow.outlets.desc(), StatementRow.sources.desc(), StatementRow.id.desc())
                .limit(SCAN_STATEMENTS)
            )
        ).all()
        seen: set[int] = set()
        per_speaker: dict[str, int] = {}
        for st, outlet, url in st_rows:
            if st.id in seen or len(st.text.split()) < 2:
                continue
            seen.add(st.id)
            speaker = st.speaker or "?"
            if per_speaker.get(speaker, 0) >= 2:  # variety: at most two lines per person
                continue
            per_speaker[speaker] = per_speaker.get(speaker, 0) + 1
            quotes.append(QuoteLine(speaker, st.text, st.kind, st.outlets, outlet, url))
            if len(quotes) >= TOP_STATEMENTS:
                break
    from bot.archive.status import failing_clause

    failing = [
        (f.title or f.url, f.consecutive_failures, f.last_error)
        for f in (
            await session.execute(
                select(Feed).where(failing_clause())
                .order_by(Feed.consecutive_failures.desc()).limit(20)
            )
        ).scalars()
    ]
    return render_digest(list(topics), since, until, stories, quotes, failing)


# ---------------------------------------------------------------- outbox and schedule


@dataclass(frozen=True)
class DigestPlan:
    channel_id: int
    cron: str
    timezone: str
    topics: tuple[str, ...]

    @property
    def job_id(self) -> str:
        sched = hashlib.sha1(f"{self.cron}|{self.timezone}".encode()).hexdigest()[:8]
        return f"{JOB_PREFIX}{self.channel_id}:{sched}"


async def digest_plans(session: AsyncSession, config: AppConfig, platforms: Sequence[str] | None = None) -> list[DigestPlan]:
    """Digest subscriptions grouped per (channel, cron, time zone); topics from topic subscriptions."""
    q = (
        select(Subscription, Channel.platform)
        .join(Channel, Channel.id == Subscription.channel_id)
        .where(Subscription.digest.is_(True), Channel.paused.is_(False))
    )
    if platforms is not None:
        q = q.where(Channel.platform.in_(list(platforms)))
    groups: dict[tuple[int, str, str], set[str]] = {}
    for sub, _platform in (await session.execute(q)).all():
        key = (sub.channel_id, sub.digest_cron or "0 8 * * *", sub.timezone or "UTC")
        topics = groups.setdefault(key, set())
        if sub.kind == "topic" and sub.value in config.topics:
            topics.add(sub.value)
    return [
        DigestPlan(cid, cron, tz, tuple(sorted(t)) or tuple(config.topics))
        for (cid, cron, tz), t in sorted(groups.items())
    ]


def schedule_digests(scheduler: Any, plans: Sequence[DigestPlan], job: Callable[..., Awaitable[Any]]) -> list[str]:
    """Install one cron job per plan and drop digest jobs no plan names; returns the job ids."""
    from apscheduler.triggers.cron import CronTrigger

    ids: list[str] = []
    for p in plans:
        try:
            trigger = CronTrigger.from_crontab(p.cron, timezone=p.timezone)
        except (ValueError, TypeError) as exc:
            log.error("digest schedule for channel %s skipped: %r: %s", p.channel_id, p.cron, exc)
            continue
        if not scheduler.running and scheduler.get_job(p.job_id) is not None:
            # Before start(), APScheduler 3 keeps jobs in a pending list where replace_existing
            # does not apply: drop the old one by hand.
            scheduler.remove_job(p.job_id)
        scheduler.add_job(
            job, trigger, id=p.job_id, name=f"digest channel {p.channel_id}", replace_existing=True, coalesce=True,
            max_instances=1, misfire_grace_time=3600, kwargs={"channel_id": p.channel_id, "topics": list(p.topics)},
        )
        ids.append(p.job_id)
    for j in scheduler.get_jobs():
        if j.id.startswith(JOB_PREFIX) and j.id not in ids:
            j.remove()
    return ids


async def enqueue_digest(
    sessions: async_sessionmaker[AsyncSession], config: AppConfig, channel_id: int, topics: Sequence[str],
    now: datetime | None = None,
) -> int | None:
    """Build the channel's digest since its last one and write it to the outbox; returns the row id.

    The key is the window's end to the minute, so two schedulers firing the same minute write one
    row. An empty digest is not sent, but the window still moves on.
    """
    now = (now or utcnow()).astimezone(UTC)
    window_end = now.replace(second=0, microsecond=0)
    async with sessions.begin() as s:
        channel = await s.get(Channel, channel_id)
        if channel is None or channel.paused:
            return None
        since = max(channel.last_digest_at or window_end - DEFAULT_WINDOW, window_end - MAX_WINDOW)
        if since >= window_end:
            return None
        result = await build_digest(s, config, topics=topics, since=since, until=window_end)
        channel.last_digest_at = window_end
        if is_empty(result):
            log.info("digest for channel %s empty; skipped", channel_id)
            return None
        insert = sqlite_insert if s.get_bind().dialect.name == "sqlite" else pg_insert
        key = f"digest:{channel_id}:{window_end.isoformat()}"
        stmt = (
            insert(Delivery)
            .values(idempotency_key=key, channel_id=channel_id, kind="digest", payload=result.to_dict(),
                    status="pending", attempts=0, next_attempt_at=utcnow(), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Delivery.id)
        )
        row_id = (await s.execute(stmt)).scalar_one_or_none()
    if row_id is not None:
        DIGESTS_QUEUED.inc()
    return row_id
