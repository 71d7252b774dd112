"""Statements into the archive: dedup across outlets, corroboration counts, and the alert outbox.

Runs inside the transaction that stored the article, so an article, its statements and the alert
rows they owe are committed together or not at all (the transactional outbox). A statement is one
row however many articles carry it; alerts are written only when the statement row is new, with a
unique key per (statement, channel), so re-ingesting or editing an article never alerts twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import AppConfig
from bot.statements import Gazetteer, extract_with
from bot.statements import Statement as Found
from bot.statements.dedup import normalise_quote, same_statement, statement_fingerprint
from bot.store.models import Article, Channel, Delivery, Statement, StatementSource, Subscription, utcnow

log = logging.getLogger(__name__)

CANDIDATE_WINDOW = timedelta(days=45)
MAX_CANDIDATES = 400
MIN_WORDS = 2  # a one-word quote ("fiasco") is kept, but only as a source, never alone as an alert

_gazetteers: dict[int, tuple[AppConfig, Gazetteer]] = {}


def gazetteer_for(config: AppConfig) -> Gazetteer:
    """Build the figures gazetteer once per config object (it is immutable)."""
    cached = _gazetteers.get(id(config))
    if cached is None or cached[0] is not config:
        cached = (config, Gazetteer.build(config.figure_list()))
        _gazetteers[id(config)] = cached
    return cached[1]


def corroboration(kind: str, outlets: int) -> str:
    """How a statement is known, in the words a desk editor uses."""
    how = "direct quote" if kind == "direct" else "paraphrase"
    if outlets <= 1:
        return f"single source, {how}"
    return f"{how}, reported by {outlets} outlets"


async def _match(session: AsyncSession, found: Found) -> Statement | None:
    """The stored statement these words belong to: same speaker, same kind, same or containing words.

    A paraphrase is never merged into a direct quote (or the other way round): what a person was
    quoted as saying and what an outlet says they meant are different claims.
    """
    fp = statement_fingerprint(found.speaker, found.text)
    exact = (await session.execute(select(Statement).where(Statement.fingerprint == fp))).scalar_one_or_none()
    if exact is not None or found.speaker is None:
        return exact
    since = utcnow() - CANDIDATE_WINDOW
    rows = (
        await session.execute(
            select(Statement)
            .where(Statement.speaker == found.speaker, Statement.kind == found.kind, Statement.first_seen_at >= since)
            .order_by(Statement.first_seen_at.desc())
            .limit(MAX_CANDIDATES)
        )
    ).scalars()
    for row in rows:
        if same_statement(row.text, found.text):
            return row
    return None


async def _recount(session: AsyncSession, statement: Statement) -> None:
    outlet_key = func.coalesce(Article.outlet, literal("article:") + cast(Article.id, String))
    outlets, sources = (
        await session.execute(
            select(func.count(func.distinct(outlet_key)), func.count(func.distinct(StatementSource.article_id)))
            .select_from(StatementSource)
            .join(Article, Article.id == StatementSource.article_id)
            .where(StatementSource.statement_id == statement.id)
        )
    ).one()
    statement.outlets = max(int(outlets or 0), 1)
    statement.sources = max(int(sources or 0), 1)


async def _insert_statement(session: AsyncSession, found: Found, article: Article) -> tuple[Statement, bool]:
    row = Statement(
        fingerprint=statement_fingerprint(found.speaker, found.text),
        speaker=found.speaker,
        figure=found.figure,
        kind=found.kind,
        text=found.text,
        normalised=normalise_quote(found.text),
        first_article_id=article.id,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
        return row, True
    except IntegrityError:
        # Another worker stored the same words a moment ago: join it.
        existing = (
            await session.execute(select(Statement).where(Statement.fingerprint == row.fingerprint))
        ).scalar_one()
        return existing, False


async def subscribed_channels(session: AsyncSession, statement: Statement, topics: Sequence[str]) -> list[int]:
    """Channels owed an alert for this statement: by figure, by topic (tracked figures only), by keyword."""
    subs = (
        await session.execute(
            select(Subscription.channel_id, Subscription.kind, Subscription.value)
            .join(Channel, Channel.id == Subscription.channel_id)
            .where(Subscription.alerts.is_(True), Channel.paused.is_(False))
        )
    ).all()
    speaker = (statement.speaker or "").casefold()
    text = statement.text.casefold()
    wanted: set[int] = set()
    for channel_id, kind, value in subs:
        v = value.casefold()
        if (
            (kind == "figure" and speaker and v == speaker)
            or (kind == "topic" and statement.figure and v in topics)
            or (kind == "keyword" and v and v in text)
        ):
            wanted.add(channel_id)
    return sorted(wanted)


def alert_payload(statement: Statement, article: Article) -> dict[str, Any]:
    return {
        "statement_id": statement.id,
        "speaker": statement.speaker,
        "text": statement.text,
        "kind": statement.kind,
        "article_id": article.id,
        "title": article.title,
        "url": article.url,
        "outlet": article.outlet,
        "published": article.published_at.isoformat() if article.published_at else None,
        "outlets": statement.outlets,
        "sources": statement.sources,
        "topics": article.topics.split(),
        "corroboration": corroboration(statement.kind, statement.outlets),
    }


async def queue_alerts(session: AsyncSession, statement: Statement, article: Article) -> int:
    channels = await subscribed_channels(session, statement, article.topics.split())
    if not channels:
        return 0
    payload = alert_payload(statement, article)
    rows = [
        {
            "idempotency_key": f"alert:{statement.id}:{cid}",
            "channel_id": cid,
            "kind": "alert",
            "statement_id": statement.id,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": utcnow(),
            "created_at": utcnow(),
        }
        for cid in channels
    ]
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    stmt = insert(Delivery).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def record_statements(session: AsyncSession, article: Article, config: AppConfig, *, alerts: bool = True) -> int:
    """Extract and store the article's statements; returns how many statements are new."""
    published = article.published_at.date() if article.published_at else None
    found = extract_with(article.text, gazetteer_for(config), published)
    # An edited article is re-read whole: its old sources go, the statements they joined stay.
    await session.execute(delete(StatementSource).where(StatementSource.article_id == article.id))
    new = 0
    seen: set[tuple[int, int]] = set()
    for item in found:
        if not item.text.strip():
            continue
        row = await _match(session, item)
        created = False
        if row is None:
            row, created = await _insert_statement(session, item, article)
        elif len(item.text) > len(row.text) and same_statement(row.text, item.text):
            row.text = item.text  # the longer wording wins; the partial quote joins it
            row.normalised = normalise_quote(item.text)
        if (row.id, item.start) in seen:
            continue
        seen.add((row.id, item.start))
        session.add(
            StatementSource(
                statement_id=row.id, article_id=article.id, kind=item.kind, text=item.text,
                start=item.start, end=item.end, cue=item.cue,
            )
        )
        await session.flush()
        await _recount(session, row)
        if created:
            new += 1
            if alerts and row.figure and len(row.text.split()) >= MIN_WORDS:
                await queue_alerts(session, row, article)
    return new
