"""Statements into the archive: dedup across outlets, corroboration counts, and the alert outbox.

Runs inside the transaction that stored the article, so an article, its statements and the alert
rows they owe are committed together or not at all (the transactional outbox). A statement is one
row however many articles carry it; alerts are written only when the statement row is new, with a
unique key per (statement, channel), so re-ingesting or editing an article never alerts twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive import ArticleRow
from bot.config import AppConfig
from bot.statements import Gazetteer, extract_with
from bot.statements import Statement as Found
from bot.statements.dedup import find_same, normalise_quote, statement_fingerprint
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


async def _alert_rules(session: AsyncSession) -> list[tuple[int, str, str]]:
    """Every active alert subscription as (channel id, kind, casefolded value)."""
    rows = (
        await session.execute(
            select(Subscription.channel_id, Subscription.kind, Subscription.value)
            .join(Channel, Channel.id == Subscription.channel_id)
            .where(Subscription.alerts.is_(True), Channel.paused.is_(False))
        )
    ).all()
    return [(cid, kind, value.casefold()) for cid, kind, value in rows]


def channels_for(rules: Sequence[tuple[int, str, str]], statement: Statement, topics: Sequence[str]) -> list[int]:
    """Channels owed an alert for this statement: by figure, by topic (tracked figures only), by keyword."""
    speaker = (statement.speaker or "").casefold()
    text = statement.text.casefold()
    wanted = {
        cid
        for cid, kind, value in rules
        if (kind == "figure" and speaker and value == speaker)
        or (kind == "topic" and statement.figure and value in topics)
        or (kind == "keyword" and value and value in text)
    }
    return sorted(wanted)


def alert_payload(statement: Statement, article: ArticleRow) -> dict[str, Any]:
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


def _insert(session: AsyncSession) -> Any:
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert


async def queue_alerts(session: AsyncSession, statements: Sequence[Statement], article: ArticleRow) -> int:
    """Outbox rows for new statements, one per (statement, channel); a repeated key is a no-op."""
    rules = await _alert_rules(session)
    topics = article.topics.split()
    now = utcnow()
    rows = [
        {
            "idempotency_key": f"alert:{st.id}:{cid}",
            "channel_id": cid,
            "kind": "alert",
            "statement_id": st.id,
            "payload": alert_payload(st, article),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for st in statements
        for cid in channels_for(rules, st, topics)
    ]
    if not rows:
        return 0
    stmt = _insert(session)(Delivery).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class _Known:
    """A stored (or just inserted) statement as the matcher sees it."""

    id: int | None
    speaker: str | None
    kind: str
    text: str
    normalised: str
    fingerprint: str


def _find(known: Sequence[_Known], item: Found, fingerprint: str) -> _Known | None:
    for k in known:
        if k.fingerprint == fingerprint:
            return k
    if item.speaker is None:
        return None
    same = [k for k in known if k.speaker == item.speaker and k.kind == item.kind]
    i = find_same(item.text, [k.normalised for k in same])
    return None if i is None else same[i]


async def _known_statements(session: AsyncSession, found: Sequence[Found], fingerprints: set[str]) -> list[_Known]:
    """Candidates for every statement of the article in two queries: same words, or same speaker lately.

    A paraphrase is never merged into a direct quote (or the other way round): what a person was
    quoted as saying and what an outlet says they meant are different claims.
    """
    cols = (Statement.id, Statement.speaker, Statement.kind, Statement.text, Statement.normalised, Statement.fingerprint)
    rows = list((await session.execute(select(*cols).where(Statement.fingerprint.in_(fingerprints)))).all())
    speakers = {f.speaker for f in found if f.speaker}
    if speakers:
        since = utcnow() - CANDIDATE_WINDOW
        rows += (
            await session.execute(
                select(*cols)
                .where(Statement.speaker.in_(speakers), Statement.first_seen_at >= since)
                .order_by(Statement.first_seen_at.desc())
                .limit(MAX_CANDIDATES * len(speakers))
            )
        ).all()
    return [_Known(*r) for r in rows]


async def _recount(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Distinct outlets and articles per statement, in one grouped query."""
    outlet_key = func.coalesce(Article.outlet, literal("article:") + cast(Article.id, String))
    rows = await session.execute(
        select(
            StatementSource.statement_id,
            func.count(func.distinct(outlet_key)),
            func.count(func.distinct(StatementSource.article_id)),
        )
        .join(Article, Article.id == StatementSource.article_id)
        .where(StatementSource.statement_id.in_(ids))
        .group_by(StatementSource.statement_id)
    )
    return {sid: (max(int(o), 1), max(int(n), 1)) for sid, o, n in rows.all()}


async def record_statements(
    session: AsyncSession, article: ArticleRow, config: AppConfig, *, alerts: bool = True, fresh: bool = False
) -> int:
    """Extract and store the article's statements; returns how many statements are new.

    Batched: a handful of queries per article whatever the number of statements, because this runs
    for every stored article inside the ingest transaction. `fresh`: the article was just
    inserted, so it has no earlier sources to clear.
    """
    published = article.published_at.date() if article.published_at else None
    found = [f for f in extract_with(article.text, gazetteer_for(config), published) if f.text.strip()]
    if not fresh:
        # An edited article is re-read whole: its old sources go, the statements they joined stay.
        await session.execute(
            delete(StatementSource).where(StatementSource.article_id == article.id),
            execution_options={"synchronize_session": False},
        )
    if not found:
        return 0
    prints = [statement_fingerprint(f.speaker, f.text) for f in found]
    known = await _known_statements(session, found, set(prints))
    pending: list[_Known] = []  # new in this article, not yet inserted
    links: list[tuple[_Known, Found]] = []
    longer: dict[int, str] = {}
    for item, fp in zip(found, prints, strict=True):
        match = _find(known, item, fp) or _find(pending, item, fp)
        if match is None:
            match = _Known(None, item.speaker, item.kind, item.text, normalise_quote(item.text), fp)
            pending.append(match)
        elif match.id is not None and len(item.text) > len(match.text):
            longer[match.id] = item.text  # the longer wording wins; the partial quote joins it
            match.text, match.normalised = item.text, normalise_quote(item.text)
        links.append((match, item))

    created: set[int] = set()
    if pending:
        now = utcnow()
        firsts = {id(p): next(f for k, f in links if k is p) for p in pending}
        values = [
            {
                "fingerprint": p.fingerprint, "speaker": p.speaker, "figure": firsts[id(p)].figure, "kind": p.kind,
                "text": p.text, "normalised": p.normalised, "first_article_id": article.id, "first_seen_at": now,
                "outlets": 1, "sources": 1,
            }
            for p in pending
        ]
        stmt = _insert(session)(Statement).values(values).on_conflict_do_nothing(index_elements=["fingerprint"])
        inserted = await session.execute(stmt.returning(Statement.id, Statement.fingerprint))
        ids = {fp: sid for sid, fp in inserted.all()}
        created = set(ids.values())
        missing = [p.fingerprint for p in pending if p.fingerprint not in ids]
        if missing:  # another worker stored the same words a moment ago: join it
            ids.update(
                {fp: sid for sid, fp in await session.execute(
                    select(Statement.id, Statement.fingerprint).where(Statement.fingerprint.in_(missing)))}
            )
        for p in pending:
            p.id = ids[p.fingerprint]

    for sid, text in longer.items():
        await session.execute(
            update(Statement).where(Statement.id == sid).values(text=text, normalised=normalise_quote(text))
        )
    sources: dict[tuple[int, int], dict[str, Any]] = {}
    for k, item in links:
        assert k.id is not None
        sources.setdefault((k.id, item.start), {
            "statement_id": k.id, "article_id": article.id, "kind": item.kind, "text": item.text,
            "start": item.start, "end": item.end, "cue": item.cue, "seen_at": utcnow(),
        })
    await session.execute(insert(StatementSource), list(sources.values()))
    touched = sorted({sid for sid, _ in sources})
    counts = await _recount(session, touched)
    await session.execute(
        update(Statement),
        [{"id": sid, "outlets": o, "sources": n} for sid, (o, n) in counts.items()],
    )
    if alerts and created:
        rows = (await session.execute(select(Statement).where(Statement.id.in_(created)))).scalars().all()
        await queue_alerts(session, [r for r in rows if r.figure and len(r.text.split()) >= MIN_WORDS], article)
    return len(created)
