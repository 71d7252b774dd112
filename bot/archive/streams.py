"""Streams: every new article a channel follows (a feed, a topic) into the outbox, its story once.

Written in the article's own transaction, like statement alerts, so an article stored is an
article owed and a crash between the two cannot happen. The outbox key is the story's (or the
article's, when it has no story) per channel: a second outlet's copy of a story is not posted
again; while the first post still waits its turn, its "N outlets" count is raised instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, Table, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive.articles import ArticleRow
from bot.runtime.metrics import BAD_INPUT
from bot.store.models import Article, Channel, Delivery, Feed, Subscription, utcnow
from bot.text.filters import check

log = logging.getLogger(__name__)

TEASER_CHARS = 280
OPEN = ("pending", "failed")  # outbox rows not yet posted: their payload may still change


@dataclass(frozen=True)
class StreamRule:
    """One streaming subscription as the matcher sees it."""

    channel_id: int
    kind: str  # feed | topic
    value: str
    include: str | None = None
    exclude: str | None = None
    match: str | None = None
    mention: str | None = None
    format: str | None = None
    via: str = ""


def names(rule: StreamRule, article: ArticleRow) -> bool:
    """Does the rule's feed or topic name this article (filters aside)?"""
    if rule.kind == "feed":
        return article.feed_id is not None and rule.value == str(article.feed_id)
    if rule.kind == "topic":
        return rule.value in article.topics.split()
    return False


def passes(rule: StreamRule, article: ArticleRow) -> bool:
    verdict = check(f"{article.title or ''}\n{article.text}", rule.include, rule.exclude, rule.match)
    if verdict.timed_out:
        BAD_INPUT.labels("stream_match_timeout").inc()
        log.warning("match: pattern ran out of time on article %s (channel %s): not posted; simplify %r",
                    article.id, rule.channel_id, rule.match)
    return verdict.passed


def stream_key(article: ArticleRow, channel_id: int) -> str:
    who = f"s{article.story_id}" if article.story_id is not None else f"a{article.id}"
    return f"stream:{who}:{channel_id}"


def teaser(text: str, limit: int = TEASER_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def payload(article: ArticleRow, rule: StreamRule, outlets: int) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "story_id": article.story_id,
        "title": article.title,
        "url": article.url,
        "outlet": article.outlet,
        "published": article.published_at.isoformat() if article.published_at else None,
        "teaser": teaser(article.text),
        "topics": article.topics.split(),
        "outlets": outlets,
        "via": rule.via,
        "mention": rule.mention,
        "format": rule.format or "full",
    }


async def stream_rules(session: AsyncSession) -> list[StreamRule]:
    rows = (
        await session.execute(
            select(Subscription, Feed.title, Feed.url)
            .join(Channel, Channel.id == Subscription.channel_id)
            .outerjoin(Feed, (Subscription.kind == "feed") & (cast(Feed.id, String(20)) == Subscription.value))
            .where(Subscription.stream.is_(True), Channel.paused.is_(False))
            .order_by(Subscription.id)
        )
    ).all()
    return [
        StreamRule(
            s.channel_id, s.kind, s.value, s.include_words, s.exclude_words, s.match, s.mention, s.format,
            via=f"feed {title or url or s.value}" if s.kind == "feed" else f"{s.kind} {s.value}",
        )
        for s, title, url in rows
    ]


async def _outlets(session: AsyncSession, story_ids: set[int]) -> dict[int, int]:
    if not story_ids:
        return {}
    rows = await session.execute(
        select(Article.story_id, func.count(func.distinct(func.coalesce(Article.outlet, Article.url))))
        .where(Article.story_id.in_(story_ids))
        .group_by(Article.story_id)
    )
    return {sid: int(n) for sid, n in rows.all() if sid is not None}


async def queue_streams(session: AsyncSession, articles: Sequence[ArticleRow], rules: list[StreamRule] | None = None) -> int:
    """Outbox rows for new articles that streaming subscriptions name; returns how many were added.
    `rules`: `stream_rules` read already (before the caller's transaction)."""
    if not articles:
        return 0
    if rules is None:
        rules = await stream_rules(session)
    if not rules:
        return 0
    outlets = await _outlets(session, {a.story_id for a in articles if a.story_id is not None})
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for article in articles:
        for rule in rules:
            key = stream_key(article, rule.channel_id)
            if key in rows or not names(rule, article) or not passes(rule, article):
                continue
            count = outlets.get(article.story_id, 1) if article.story_id is not None else 1
            rows[key] = {
                "idempotency_key": key, "channel_id": rule.channel_id, "kind": "article", "statement_id": None,
                "payload": payload(article, rule, count), "status": "pending", "attempts": 0,
                "next_attempt_at": now, "created_at": now,
            }
    if not rows:
        return 0
    table: Table = Delivery.__table__  # type: ignore[assignment]
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    added = len((await session.execute(stmt, list(rows.values()))).all())
    if added < len(rows):
        await _recount_waiting(session, {k: r["payload"]["outlets"] for k, r in rows.items()})
    return added


async def _recount_waiting(session: AsyncSession, counts: dict[str, int]) -> None:
    """A story already owed to a channel: raise its "N outlets" while the post still waits."""
    waiting = (
        await session.execute(
            select(Delivery.id, Delivery.idempotency_key, Delivery.payload)
            .where(Delivery.idempotency_key.in_(list(counts)), Delivery.status.in_(OPEN))
        )
    ).all()
    for did, key, old in waiting:
        if int((old or {}).get("outlets", 1)) < counts[key]:
            await session.execute(
                update(Delivery).where(Delivery.id == did).values(payload={**(old or {}), "outlets": counts[key]})
            )
