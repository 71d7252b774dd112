"""Statements into the archive: dedup across outlets, corroboration counts, and the alert outbox.

Runs inside the transaction that stored the article, so an article, its statements and the alert
rows they owe are committed together or not at all (the transactional outbox). A statement is one
row however many articles carry it; alerts are written only when the statement row is new, with a
unique key per (statement, channel), so re-ingesting or editing an article never alerts twice.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, delete, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive import statement_words
from bot.archive.articles import ArticleIn, ArticleRow, will_change
from bot.archive.figures import tracked_figures
from bot.config import AppConfig
from bot.statements.alerts import alertable
from bot.statements.dedup import Candidates, find_same, normalise_quote, statement_fingerprint
from bot.statements.model import Statement as Found
from bot.store.db import one_of
from bot.store.models import Article, Channel, Delivery, StatementRow, StatementSource, Subscription, utcnow

if TYPE_CHECKING:  # the extractor is imported where it runs: the ingester's main process never does
    from bot.statements.speakers import Gazetteer

log = logging.getLogger(__name__)

CANDIDATE_WINDOW = timedelta(days=45)
MIN_WORDS = 2  # a one-word quote ("fiasco") is kept, but only as a source, never alone as an alert

_gazetteers: dict[int, tuple[AppConfig, Gazetteer]] = {}


def gazetteer_for(config: AppConfig) -> Gazetteer:
    """Build the figures gazetteer once per config object (it is immutable)."""
    from bot.statements.speakers import Gazetteer

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


def channels_for(rules: Sequence[tuple[int, str, str]], statement: StatementRow, topics: Sequence[str]) -> list[int]:
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


async def _mentions(session: AsyncSession) -> list[tuple[int, str, str, str]]:
    """Alert subscriptions that ping someone: (channel id, kind, casefolded value, mention)."""
    rows = (
        await session.execute(
            select(Subscription.channel_id, Subscription.kind, Subscription.value, Subscription.mention)
            .where(Subscription.alerts.is_(True), Subscription.mention.is_not(None))
        )
    ).all()
    return [(cid, kind, value.casefold(), mention) for cid, kind, value, mention in rows if mention]


def mention_for(pings: Sequence[tuple[int, str, str, str]], channel_id: int, statement: StatementRow,
                topics: Sequence[str]) -> str | None:
    """The mention of the channel's subscription this alert is for, if it has one (pure)."""
    return next((m for cid, kind, value, m in pings
                 if cid == channel_id and channels_for([(cid, kind, value)], statement, topics)), None)


def alert_payload(statement: StatementRow, article: ArticleRow) -> dict[str, Any]:
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


def how_said(found: Found | None) -> dict[str, Any]:
    """The speech cue and how the speaker was found, for the alert to say (pure)."""
    if found is None:
        return {}
    return {"cue": found.cue, "attributed": found.attributed}


def _insert(session: AsyncSession) -> Any:
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert


async def queue_alerts(
    session: AsyncSession,
    statements: Sequence[StatementRow],
    article: ArticleRow,
    rules: Sequence[tuple[int, str, str]] | None = None,
    found: Mapping[int, Found] | None = None,
) -> int:
    """Outbox rows for new statements, one per (statement, channel); a repeated key is a no-op.

    `found`, by statement id: the extraction that started each statement, whose speech cue and
    way of attribution ("he said" → the pronoun's person) the alert shows."""
    if rules is None:
        rules = await _alert_rules(session)
    topics = article.topics.split()
    now = utcnow()
    pings = await _mentions(session)
    rows = [
        {
            "idempotency_key": f"alert:{st.id}:{cid}",
            "channel_id": cid,
            "kind": "alert",
            "statement_id": st.id,
            "payload": {**alert_payload(st, article), **how_said((found or {}).get(st.id)),
                        "mention": mention_for(pings, cid, st, topics)},
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
    table = Delivery.__table__
    stmt = _insert(session)(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    return len((await session.execute(stmt, rows)).all())


@dataclass
class _Known:
    """A stored (or just inserted) statement as the matcher sees it."""

    id: int | None
    speaker: str | None
    kind: str
    text: str
    normalised: str
    fingerprint: str


_Group = tuple[list[_Known], Candidates]  # one speaker's statements of one kind, and their index
_GONE = _Known(None, None, "", "", "", "")  # a position whose statement is no longer a candidate


class _Pool:
    """Statements a new one may be: by fingerprint, or by speaker and kind for the fuzzy match."""

    def __init__(self, known: Sequence[_Known] = (), groups: Mapping[tuple[str | None, str], _Group] | None = None) -> None:
        self.by_print: dict[str, _Known] = {}
        for k in known:
            self.by_print.setdefault(k.fingerprint, k)
        if groups is not None:
            self.by_speaker: dict[tuple[str | None, str], _Group] = dict(groups)
            return
        same_of: dict[tuple[str | None, str], list[_Known]] = {}
        for k in known:  # as `add` one by one would, each speaker's candidates built in one go
            same_of.setdefault((k.speaker, k.kind), []).append(k)
        self.by_speaker = {key: (same, Candidates([k.normalised for k in same])) for key, same in same_of.items()}

    def add(self, k: _Known) -> None:
        self.by_print.setdefault(k.fingerprint, k)
        pool = self.by_speaker.get((k.speaker, k.kind))
        if pool is None:
            pool = self.by_speaker[(k.speaker, k.kind)] = ([], Candidates())
        same, cands = pool
        same.append(k)
        cands.append(k.normalised)

    def find(self, item: Found, fingerprint: str, normalised: str) -> _Known | None:
        hit = self.by_print.get(fingerprint)
        if hit is not None or item.speaker is None:
            return hit
        pool = self.by_speaker.get((item.speaker, item.kind))
        if pool is None:
            return None
        i = find_same(item.text, pool[1], normalised=normalised)
        return None if i is None else pool[0][i]

    def reword(self, k: _Known, text: str) -> None:
        """`k` now reads `text` (the longer wording wins), for later matches too."""
        k.text, k.normalised = text, normalise_quote(text)
        same, cands = self.by_speaker[(k.speaker, k.kind)]
        for i, other in enumerate(same):
            if other is k:
                cands.replace(i, k.normalised)


@dataclass
class _KeptGroup:
    same: list[_Known]  # by position in `cands`; `_GONE` where a statement left the candidates
    cands: Candidates
    at: dict[int, int]  # statement id -> position
    gone: int = 0


class _KeptIndex:
    """Each speaker's candidate index, kept by the process from one ingest write to the next.

    Building it (every candidate's words split and indexed) cost a first cycle of 1,000 feeds
    174 builds and 245,184 candidate insertions, for candidates nearly all in the batch before.
    The index is not trusted, only reused: every write reconciles the groups it matches against
    with the candidates it has just read (`statement_words.candidates`), so it matches exactly
    those, whatever happened meanwhile. A statement read for the first time (another process's,
    or this one's) is appended; one no longer among them (aged out, deleted, or never committed)
    is blanked, which no lookup matches; one whose words changed (reworded, here or elsewhere, or
    an id SQLite gave to another statement after a rollback) is re-indexed. Reconciling and
    matching run with no await between them, so concurrent writes of one process cannot see each
    other's half-done changes. Only the order of candidates differs from a fresh build: where two
    stored statements both match, the one indexed first is joined.
    """

    def __init__(self) -> None:
        self.groups: dict[tuple[str | None, str], _KeptGroup] = {}
        self.size = 0

    def pool(self, known: Sequence[_Known]) -> _Pool:
        wanted: dict[tuple[str | None, str], list[_Known]] = {}
        for k in known:
            if k.speaker is not None:  # a statement without a speaker is matched by its exact words only
                wanted.setdefault((k.speaker, k.kind), []).append(k)
        if self.size > statement_words.MAX_KEPT:
            self.groups.clear()
            self.size = 0
        view: dict[tuple[str | None, str], _Group] = {}
        for key, rows in wanted.items():
            group = self.groups.get(key)
            if group is None or group.gone > max(64, len(group.same) // 2):
                self.size -= len(group.same) if group is not None else 0
                group = self.groups[key] = _KeptGroup(list(rows), Candidates([k.normalised for k in rows]),
                                                      {k.id: i for i, k in enumerate(rows) if k.id is not None})
                self.size += len(rows)
            else:
                self._reconcile(group, rows)
            view[key] = (group.same, group.cands)
        return _Pool(known, view)

    def _reconcile(self, group: _KeptGroup, rows: Sequence[_Known]) -> None:
        live: set[int] = set()
        for k in rows:
            assert k.id is not None
            live.add(k.id)
            i = group.at.get(k.id)
            if i is None:
                group.at[k.id] = len(group.same)
                group.same.append(k)
                group.cands.append(k.normalised)
                self.size += 1
                continue
            if group.same[i].normalised != k.normalised:
                group.cands.replace(i, k.normalised)
            group.same[i] = k
        for sid in [sid for sid in group.at if sid not in live]:
            i = group.at.pop(sid)
            group.same[i] = _GONE
            group.cands.replace(i, "")
            group.gone += 1


_kept_index: weakref.WeakKeyDictionary[Engine, _KeptIndex] = weakref.WeakKeyDictionary()


def _index_for(session: AsyncSession) -> _KeptIndex:
    bind = session.get_bind()
    return _kept_index.setdefault(bind if isinstance(bind, Engine) else bind.engine, _KeptIndex())


async def _known_statements(session: AsyncSession, found: Sequence[Found], fingerprints: set[str]) -> list[_Known]:
    """Candidates for every statement of a batch: same words, or same speaker lately (per speaker,
    so one prolific speaker cannot crowd another's recent statements out).

    A paraphrase is never merged into a direct quote (or the other way round): what a person was
    quoted as saying and what an outlet says they meant are different claims.
    """
    speakers = [f.speaker for f in found if f.speaker]
    rows = await statement_words.candidates(session, speakers, sorted(fingerprints), utcnow() - CANDIDATE_WINDOW)
    return [_Known(*r) for r in rows]


def _lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key (the same in every process, unlike Python's `hash`)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def speaker_lock_key(speaker: str) -> int:
    """The lock key of one speaker's statements, from the name as the fingerprint reads it."""
    return _lock_key("speaker:" + normalise_quote(speaker))


# Taken in key order (the subquery sorts; PostgreSQL evaluates a volatile function such as the
# lock after it), so two writers locking overlapping speakers never wait on each other in a cycle.
_LOCK_SPEAKERS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS s"
)


def _rejoin(pending: list[_Known], longer: dict[int, str], since: Sequence[_Known]) -> list[_Known]:
    """The statements still to start, once compared with those committed (or reworded) since the
    batch was matched: a writer that started one of them meanwhile holds the same locks, so this
    runs after its commit. One the same as a statement of `since` joins it instead (its links
    follow, as they hold the same object), the longer wording winning; `longer` is updated."""
    later = _Pool(since)
    for k in since:  # reworded meanwhile: keep the longer of theirs and ours
        if k.id is not None and k.id in longer and len(k.text) >= len(longer[k.id]):
            del longer[k.id]
    still: list[_Known] = []
    for p in pending:
        hit = later.by_print.get(p.fingerprint)
        if hit is None and p.speaker is not None:
            pool = later.by_speaker.get((p.speaker, p.kind))
            i = None if pool is None else find_same(p.text, pool[1], normalised=p.normalised)
            hit = None if i is None or pool is None else pool[0][i]
        if hit is None:
            still.append(p)
            continue
        assert hit.id is not None
        p.id = hit.id
        if len(p.text) > len(longer.get(hit.id, hit.text)):
            longer[hit.id] = p.text
    return still


async def lock_speakers(session: AsyncSession, speakers: Sequence[str], prints: Sequence[str] = ()) -> None:
    """Hold each speaker's statement lock until the caller's transaction ends (PostgreSQL).

    Writers record a speaker's statements one at a time, until each commits: the unique key is the
    exact wording, so two transactions, each blind to the other's uncommitted quote (a partial one
    in one outlet, the full one in another), would each start a statement, and alert twice. A
    statement only ever joins one of its own speaker's (the fingerprint includes the speaker, the
    fuzzy match compares a speaker's recent statements), so the lock is per speaker: writers
    quoting different people never wait for each other. A statement without a speaker is matched
    by its exact words only: its lock is that of its fingerprint (`prints`), so that two writers
    counting its outlets at once do not each miss the other's.
    """
    keys = sorted({speaker_lock_key(s) for s in speakers} | {_lock_key("words:" + p) for p in prints})
    if keys:
        await session.execute(_LOCK_SPEAKERS, {"keys": keys})


async def _recount(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Distinct outlets and articles per statement, in one grouped query."""
    outlet_key = func.coalesce(Article.outlet, literal("article:") + cast(Article.id, String))
    if not ids:
        return {}
    rows = await session.execute(
        select(
            StatementSource.statement_id,
            func.count(func.distinct(outlet_key)),
            func.count(func.distinct(StatementSource.article_id)),
        )
        .join(Article, Article.id == StatementSource.article_id)
        .where(one_of(StatementSource.statement_id, ids, session.get_bind().dialect.name))
        .group_by(StatementSource.statement_id)
    )
    return {sid: (max(int(o), 1), max(int(n), 1)) for sid, o, n in rows.all()}


@dataclass
class ToRecord:
    """One stored article whose statements are to be recorded, as the write path hands it over."""

    article: ArticleRow
    alerts: bool = True  # False for backfill (a feed's first fetch, seeds): stored, never alerted
    fresh: bool = False  # just inserted: no earlier sources to clear
    found: list[Found] | None = None  # extracted already (off the event loop); None: extract here


def _extract(article: ArticleRow, gazetteer: Gazetteer) -> list[Found]:
    from bot.statements.extract import extract_with

    published = article.published_at.date() if article.published_at else None
    return [f for f in extract_with(article.text, gazetteer, published) if f.text.strip()]


@dataclass
class Matched:
    """A batch's statements matched against the stored ones: which start a statement, which join
    which (`links`, in order), which stored statements get a longer wording."""

    of: list[list[Found]]  # the statements matched, per article
    fingerprints: set[str]
    words_read: dict[int | None, str]  # the stored statements matched against, as they read then
    pending: list[_Known]
    first_of: dict[int, tuple[Found, int]]  # id(pending) -> (first occurrence, index into the batch)
    links: list[tuple[_Known, Found, int]]
    longer: dict[int, str]


def _match(found_of: list[list[Found]], read: Sequence[_Known], fingerprints: set[str], index: _KeptIndex,
           normalised_of: list[list[str]], prints_of: list[list[str]]) -> Matched:
    """Match every statement of the batch, in order, against `read` and the batch's earlier ones (pure)."""
    words_read = {k.id: k.text for k in read}
    known = index.pool(read)
    fresh_pool = _Pool()  # new in this batch, not yet inserted
    pending: list[_Known] = []
    first_of: dict[int, tuple[Found, int]] = {}
    links: list[tuple[_Known, Found, int]] = []
    longer: dict[int, str] = {}
    for n, (found, prints, norms) in enumerate(zip(found_of, prints_of, normalised_of, strict=True)):
        for item, fp, norm in zip(found, prints, norms, strict=True):
            match = known.find(item, fp, norm) or fresh_pool.find(item, fp, norm)
            if match is None:
                match = _Known(None, item.speaker, item.kind, item.text, norm, fp)
                pending.append(match)
                fresh_pool.add(match)
                first_of[id(match)] = (item, n)
            elif len(item.text) > len(match.text) and (match.id is not None or first_of[id(match)][1] != n):
                # The longer wording wins; the partial quote joins it.
                if match.id is not None:
                    longer[match.id] = item.text
                (known if match.id is not None else fresh_pool).reword(match, item.text)
            links.append((match, item, n))
    return Matched(found_of, fingerprints, words_read, pending, first_of, links, longer)


def _keys(found_of: list[list[Found]]) -> tuple[list[list[str]], list[list[str]]]:
    normalised_of = [[normalise_quote(f.text) for f in fs] for fs in found_of]  # once: matching needs it thrice
    prints_of = [
        [statement_fingerprint(f.speaker, f.text, normalised=n) for f, n in zip(fs, ns, strict=True)]
        for fs, ns in zip(found_of, normalised_of, strict=True)
    ]
    return normalised_of, prints_of


@dataclass
class Read:
    """What matching a batch's statements ahead needs from the database (`read_ahead`)."""

    of: list[list[Found]]
    normalised_of: list[list[str]]
    prints_of: list[list[str]]
    fingerprints: set[str]
    known: list[_Known]
    index: _KeptIndex


async def read_ahead(session: AsyncSession, of: list[list[Found]]) -> Read | None:
    """The stored statements the statements of articles about to be stored with new text may
    be (`of`, extracted already), read through `session`; `match_read` matches them later, with
    no transaction open."""
    everything = [f for fs in of for f in fs]
    if not everything:
        return None
    normalised_of, prints_of = _keys(of)
    fingerprints = {p for ps in prints_of for p in ps}
    known = await _known_statements(session, everything, fingerprints)
    return Read(of, normalised_of, prints_of, fingerprints, known, _index_for(session))


def match_read(r: Read | None) -> Matched | None:
    """`read_ahead`'s statements matched (pure but for the process's kept index)."""
    return None if r is None else _match(r.of, r.known, r.fingerprints, r.index, r.normalised_of, r.prints_of)


async def match_ahead(
    sessions: async_sessionmaker[AsyncSession], items: Sequence[ArticleIn], found: Sequence[list[Found] | None]
) -> Matched | None:
    """Match the statements of articles about to be stored, extracted already (by the parse
    workers), before the write transaction begins: matching is the costly part of recording them,
    and would otherwise hold that transaction open while Python works.

    Which articles will be stored with new text, and the stored statements theirs may be, are read
    in a short transaction of their own, ended before matching. `record_many` uses the result if
    it records exactly these statement lists, after checking it under the statement locks against
    the statements committed meanwhile."""
    if not items or any(f is None for f in found):
        return None
    async with sessions.begin() as session:
        changed = await will_change(session, items)
        read = await read_ahead(session, [f for f, c in zip(found, changed, strict=True) if c and f is not None])
    return match_read(read)


async def _committed_since(session: AsyncSession, m: Matched, everything: Sequence[Found]) -> list[_Known]:
    """The candidates committed or reworded since `m` was matched, in one round trip (PostgreSQL,
    under the statement locks)."""
    speakers = sorted({f.speaker for f in everything if f.speaker})
    rows = await statement_words.changed(session, speakers, sorted(m.fingerprints), utcnow() - CANDIDATE_WINDOW, m.words_read)
    return [_Known(*r) for r in rows]


async def catch_up(session: AsyncSession, m: Matched) -> None:
    """Bring statements matched ahead up to date with those committed or reworded since, as
    `record_many` does under the statement locks (PostgreSQL): done once more just before the
    write transaction, it leaves to the locks only what was committed in between, so the fuzzy
    matching rarely runs while they are held."""
    if not (m.pending or m.longer):
        return
    since = await _committed_since(session, m, [f for fs in m.of for f in fs])
    if since:
        m.pending = _rejoin(m.pending, m.longer, since)
        m.words_read.update({k.id: k.text for k in since})




def _source_rows(batch: Sequence[ToRecord], links: Sequence[tuple[_Known, Found, int]]) -> list[dict[str, Any]]:
    sources: dict[tuple[int, int, int], dict[str, Any]] = {}
    seen = utcnow()
    for k, item, n in links:
        assert k.id is not None
        art = batch[n].article.id
        sources.setdefault((k.id, art, item.start), {
            "statement_id": k.id, "article_id": art, "kind": item.kind, "text": item.text,
            "start": item.start, "end": item.end, "cue": item.cue, "seen_at": seen,
        })
    return list(sources.values())


async def _write_sqlite(session: AsyncSession, batch: Sequence[ToRecord], pending: list[_Known],
                        first_of: dict[int, tuple[Found, int]], links: Sequence[tuple[_Known, Found, int]],
                        longer: dict[int, str]) -> dict[int, int]:
    """The new statements, rewordings, sources and counts (SQLite, one writer at a time); the new
    statements' ids, to the index of the article that first carried each."""
    created: dict[int, int] = {}
    if pending:
        now = utcnow()
        values = [
            {
                "fingerprint": p.fingerprint, "speaker": p.speaker, "figure": first_of[id(p)][0].figure, "kind": p.kind,
                "text": p.text, "normalised": p.normalised, "first_article_id": batch[first_of[id(p)][1]].article.id,
                "first_seen_at": now, "said_at": batch[first_of[id(p)][1]].article.published_at or now,
                "outlets": 1, "sources": 1,
            }
            for p in pending
        ]
        # executemany (batched by the driver layer), not one giant VALUES list compiled afresh each time
        table = StatementRow.__table__
        stmt = _insert(session)(table).on_conflict_do_nothing(index_elements=["fingerprint"])
        inserted = await session.execute(stmt.returning(table.c.id, table.c.fingerprint), values)
        ids: dict[str, int] = {fp: sid for sid, fp in inserted}
        created = {ids[p.fingerprint]: first_of[id(p)][1] for p in pending if p.fingerprint in ids}
        missing = [p.fingerprint for p in pending if p.fingerprint not in ids]
        if missing:  # another worker stored the same words a moment ago: join it
            ids.update(
                {fp: sid for sid, fp in await session.execute(
                    select(StatementRow.id, StatementRow.fingerprint).where(one_of(StatementRow.fingerprint, missing, "sqlite")))}
            )
        for p in pending:
            p.id = ids[p.fingerprint]

    if longer:
        await session.execute(
            update(StatementRow),
            [{"id": sid, "text": text, "normalised": normalise_quote(text)} for sid, text in sorted(longer.items())],
        )
        await statement_words.note_reworded(session)
    sources = _source_rows(batch, links)
    await session.execute(insert(StatementSource), sources)
    counts = await _recount(session, sorted({r["statement_id"] for r in sources}))
    await session.execute(
        update(StatementRow),
        # in id order: writers counting into the same statements cannot deadlock
        [{"id": sid, "outlets": o, "sources": n} for sid, (o, n) in sorted(counts.items())],
    )
    return created


async def _write_pg(session: AsyncSession, batch: Sequence[ToRecord], pending: list[_Known],
                    first_of: dict[int, tuple[Found, int]], links: Sequence[tuple[_Known, Found, int]],
                    longer: dict[int, str]) -> dict[int, int]:
    """`_write_sqlite` on PostgreSQL in one statement (`_PG_RECORD`; the rare rewordings apart), as
    the statement locks are held until commit: each round trip under them is one more wait for
    this process to send the next statement while every writer quoting these people waits.

    A new statement's sources are all in this batch, so its counts are known here; a stored one's
    are counted over its stored sources and the new ones. Every statement counted is covered by a
    statement lock this transaction holds (its speaker's, or its words' for one without a
    speaker), so no two writers update the same rows at once, whatever order the UPDATE takes."""
    if longer:
        await session.execute(
            update(StatementRow),
            [{"id": sid, "text": text, "normalised": normalise_quote(text)} for sid, text in sorted(longer.items())],
        )
        await statement_words.note_reworded(session)
    now = utcnow()
    outlets: dict[int, set[str]] = {}
    articles: dict[int, set[int]] = {}
    for k, _item, n in links:
        if k.id is None:
            art = batch[n].article
            outlets.setdefault(id(k), set()).add(art.outlet or f"article:{art.id}")
            articles.setdefault(id(k), set()).add(art.id)
    firsts = [first_of[id(p)] for p in pending]
    params: dict[str, Any] = {
        "fp": [p.fingerprint for p in pending], "speaker": [p.speaker for p in pending],
        "figure": [f.figure for f, _n in firsts], "kind": [p.kind for p in pending], "text": [p.text for p in pending],
        "norm": [p.normalised for p in pending], "first_article": [batch[n].article.id for _f, n in firsts],
        "now": now, "said": [batch[n].article.published_at or now for _f, n in firsts],
        "outlets": [len(outlets.get(id(p), ())) or 1 for p in pending],
        "sources": [len(articles.get(id(p), ())) or 1 for p in pending],
    }
    rows: dict[tuple[int | str, int, int], tuple[Found, int]] = {}
    for k, item, n in links:
        rows.setdefault((k.id if k.id is not None else k.fingerprint, batch[n].article.id, item.start), (item, n))
    keys = list(rows)
    params |= {
        "s_id": [k[0] if isinstance(k[0], int) else None for k in keys],
        "s_fp": [k[0] if isinstance(k[0], str) else None for k in keys],
        "s_article": [k[1] for k in keys], "s_kind": [rows[k][0].kind for k in keys], "s_text": [rows[k][0].text for k in keys],
        "s_start": [k[2] for k in keys], "s_end": [rows[k][0].end for k in keys], "s_cue": [rows[k][0].cue for k in keys],
        "known": sorted({k[0] for k in keys if isinstance(k[0], int)}),
    }
    ids = {fp: int(sid) for sid, fp in (await session.execute(_PG_RECORD, params)).all()}
    created: dict[int, int] = {}
    for p, (_f, n) in zip(pending, firsts, strict=True):
        # Absent: a statement with these words was committed by a writer not holding our locks;
        # its sources were refused (statement_id NOT NULL) and the whole write is retried.
        p.id = ids[p.fingerprint]
        created[p.id] = n
    return created


# The new statements, every source and the stored statements' counts in one round trip. Sources of
# a new statement name it by fingerprint (its id is drawn here); the UPDATE cannot see the rows
# this statement inserts, so the stored statements' new sources are counted from the parameters.
_PG_RECORD = text(
    """
    WITH new AS (
        INSERT INTO statements (fingerprint, speaker, figure, kind, text, normalised, first_article_id,
                                first_seen_at, said_at, outlets, sources)
        SELECT t.fp, t.speaker, t.figure, t.kind, t.text, t.norm, t.first_article, CAST(:now AS timestamptz),
               t.said, t.outlets, t.sources
        FROM unnest(CAST(:fp AS text[]), CAST(:speaker AS text[]), CAST(:figure AS boolean[]), CAST(:kind AS text[]),
                    CAST(:text AS text[]), CAST(:norm AS text[]), CAST(:first_article AS bigint[]),
                    CAST(:said AS timestamptz[]), CAST(:outlets AS integer[]), CAST(:sources AS integer[]))
             AS t(fp, speaker, figure, kind, text, norm, first_article, said, outlets, sources)
        ON CONFLICT (fingerprint) DO NOTHING
        RETURNING id, fingerprint
    ), src AS (
        SELECT s.* FROM unnest(CAST(:s_id AS bigint[]), CAST(:s_fp AS text[]), CAST(:s_article AS bigint[]),
                               CAST(:s_kind AS text[]), CAST(:s_text AS text[]), CAST(:s_start AS integer[]),
                               CAST(:s_end AS integer[]), CAST(:s_cue AS text[]))
             AS s(sid, fp, article_id, kind, text, start, "end", cue)
    ), ins_src AS (
        INSERT INTO statement_sources (statement_id, article_id, kind, text, start, "end", cue, seen_at)
        SELECT coalesce(src.sid, new.id), src.article_id, src.kind, src.text, src.start, src."end", src.cue,
               CAST(:now AS timestamptz)
        FROM src LEFT JOIN new ON new.fingerprint = src.fp
    ), counted AS (
        SELECT x.statement_id AS id,
               count(DISTINCT coalesce(a.outlet, 'article:' || CAST(a.id AS text))) AS o,
               count(DISTINCT x.article_id) AS n
        FROM (
            SELECT statement_id, article_id FROM statement_sources WHERE statement_id = ANY(CAST(:known AS bigint[]))
            UNION ALL
            SELECT sid, article_id FROM src WHERE sid IS NOT NULL
        ) AS x JOIN articles AS a ON a.id = x.article_id
        GROUP BY x.statement_id
    ), upd AS (
        UPDATE statements AS s SET outlets = GREATEST(c.o, 1), sources = GREATEST(c.n, 1)
        FROM counted AS c WHERE s.id = c.id
    )
    SELECT id, fingerprint FROM new
    """
)


async def record_many(
    session: AsyncSession, batch: Sequence[ToRecord], config: AppConfig, ahead: Matched | None = None
) -> list[int]:
    """Store the statements of many articles at once; per article, how many statements are new.

    Batched over a whole ingest write (hundreds of articles): a fixed handful of queries however
    many articles and statements, because this runs inside the ingest transaction. Articles are
    taken in order, so a statement first printed by an earlier article of the batch is joined by
    later ones exactly as if they had been stored one after another. `ahead`: the batch's
    statements matched before the transaction (`match_ahead`), used if they are the same lists.
    """
    found_of: list[list[Found]] = []
    gazetteer: Gazetteer | None = None
    for t in batch:
        if t.found is not None:
            found_of.append(t.found)
            continue
        if gazetteer is None:
            # Read at each write, not cached: a figure tracked from chat counts for the next article.
            from bot.statements.speakers import Gazetteer

            gazetteer = Gazetteer.build(await tracked_figures(session, config))
        found_of.append(_extract(t.article, gazetteer))
    dialect = session.get_bind().dialect.name
    stale = [t.article.id for t in batch if not t.fresh]
    if stale:
        # An edited article is re-read whole: its old sources go, the statements they joined stay.
        await session.execute(
            delete(StatementSource).where(one_of(StatementSource.article_id, stale, dialect)),
            execution_options={"synchronize_session": False},
        )
    everything = [f for fs in found_of for f in fs]
    if not everything:
        return [0] * len(batch)
    same = ahead is not None and len(ahead.of) == len(found_of) and all(a is b for a, b in zip(ahead.of, found_of, strict=True))
    if ahead is not None and same:
        m = ahead
    else:
        # Matched before the statement locks are taken (they are held until commit, and matching
        # is the costly part), against the statements committed by then; checked again below.
        normalised_of, prints_of = _keys(found_of)
        fingerprints = {p for ps in prints_of for p in ps}
        read = await _known_statements(session, everything, fingerprints)
        m = _match(found_of, read, fingerprints, _index_for(session), normalised_of, prints_of)
    pending, first_of, links, longer = m.pending, m.first_of, m.links, m.longer
    # Read before the statement locks, which are held until commit: only their own work under them.
    rules = await _alert_rules(session) if pending and any(t.alerts for t in batch) else []
    if dialect == "postgresql":
        unnamed = [p.fingerprint for p, _f, _n in links if p.speaker is None]
        await lock_speakers(session, [f.speaker for f in everything if f.speaker], unnamed)
        if pending or longer:  # under the locks, what was committed since the match
            since = await _committed_since(session, m, everything)
            if since:
                pending = _rejoin(pending, longer, since)
    elif m is ahead and (pending or longer):
        # SQLite: under its one writer's lock, what was committed since the match
        since = [k for k in await _known_statements(session, everything, m.fingerprints) if m.words_read.get(k.id) != k.text]
        if since:
            pending = _rejoin(pending, longer, since)

    created: dict[int, int] = {}  # statement id -> index into batch of the article that first carried it
    if dialect == "postgresql":
        created = await _write_pg(session, batch, pending, first_of, links, longer)
    else:
        created = await _write_sqlite(session, batch, pending, first_of, links, longer)
    new_per_article = [0] * len(batch)
    for n in created.values():
        new_per_article[n] += 1
    how_found = {p.id: first_of[id(p)][0] for p in pending if p.id is not None}
    confident = {sid for sid, f in how_found.items() if alertable(f)}  # the first wording's attribution decides
    alerting = {sid: n for sid, n in created.items() if batch[n].alerts and sid in confident}
    if alerting and rules:
        query = select(StatementRow).where(one_of(StatementRow.id, sorted(alerting), dialect))
        rows = list((await session.execute(query)).scalars().all())
        by_article: dict[int, list[StatementRow]] = {}
        for r in rows:
            if r.figure and len(r.text.split()) >= MIN_WORDS:
                by_article.setdefault(alerting[r.id], []).append(r)
        for n, statements in by_article.items():
            await queue_alerts(session, statements, batch[n].article, rules, found=how_found)
    return new_per_article
