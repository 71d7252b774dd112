"""The words of stored statements a new one may repeat, kept by the process between ingest writes.

Every ingest write matches its new statements against each of their speakers' recent ones (up to
`MAX_CANDIDATES` a speaker). Reading all their words again in every write cost a first cycle of
1,000 feeds 2.1 s of SQL, and as much again in Python: 3,200 rows of text a batch, nearly all read
the batch before. Now a write reads which statements those are (ids, from the (speaker,
first_seen_at) index alone), and the words of only those this process has not kept.

Why the kept words stay right:
- Statements' words change in one way only, a rewording (a longer wording replacing a partial
  quote), and each rewording adds one to `statement_wordings.version` in the same transaction
  (`note_reworded`). A reader that finds another version than its words were read at drops them.
- Only committed words are kept: what a transaction read waits in its session until the commit,
  and goes with a rollback, so words of a statement that was never committed (whose id SQLite may
  give to another) are never kept.
- The version is read before the words, and a rewording's words and version become visible
  together at its commit: words are never older than the version they are kept at, so a
  rewording committed while (or after) they were read moves the version on and they are dropped.
  This holds without any lock, so the words may be read before the statement locks are taken
  (`statement_store.match_ahead`, `lock_speakers`).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Select, String, bindparam, cast, event, func, select, true, union, union_all, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.store.db import one_of
from bot.store.models import StatementRow, StatementWordings

MAX_CANDIDATES = 400  # a speaker's most recent statements a new one is compared with
MAX_KEPT = 20_000  # words kept per database (~50 speakers' candidates); beyond it, start afresh

Words = tuple[int, str | None, str, str, str, str]  # id, speaker, kind, text, normalised, fingerprint
_COLUMNS = (StatementRow.id, StatementRow.speaker, StatementRow.kind, StatementRow.text, StatementRow.normalised, StatementRow.fingerprint)
_PENDING = "statement_words"  # session.info key: words read in the open transaction


@dataclass
class _Kept:
    version: int | None = None
    words: dict[int, Words] = field(default_factory=dict)


_kept: weakref.WeakKeyDictionary[Engine, _Kept] = weakref.WeakKeyDictionary()


def _words(row: Any) -> Words:
    return (row[0], row[1], row[2], row[3], row[4], row[5])


def _engine(session: AsyncSession) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _on_commit(session: Session) -> None:
    for kept, version, words in session.info.pop(_PENDING, ()):
        if kept.version != version or len(kept.words) + len(words) > MAX_KEPT:
            kept.words.clear()
            kept.version = version
        kept.words.update(words)


def _on_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


def _keep_after_commit(session: AsyncSession, kept: _Kept, version: int, words: dict[int, Words]) -> None:
    sync = session.sync_session
    if not event.contains(sync, "after_commit", _on_commit):
        event.listen(sync, "after_commit", _on_commit)
        event.listen(sync, "after_soft_rollback", _on_rollback)
    sync.info.setdefault(_PENDING, []).append((kept, version, words))


async def candidates(
    session: AsyncSession, speakers: Sequence[str], fingerprints: Sequence[str], since: datetime
) -> list[Words]:
    """Statements with one of these exact-words fingerprints, then each speaker's most recent
    since `since` (newest first), each once, as the rows they are stored as."""
    dialect = session.get_bind().dialect.name
    exact: dict[int, Words] = {}
    if fingerprints:
        same_words = select(*_COLUMNS).where(one_of(StatementRow.fingerprint, sorted(fingerprints), dialect))
        exact = {r[0]: _words(r) for r in (await session.execute(same_words)).all()}
    if not speakers:
        return list(exact.values())
    recent = _recent(speakers, since)
    ids = list((await session.execute(union_all(*recent) if len(recent) > 1 else recent[0])).scalars())
    version = (await session.execute(select(StatementWordings.version).where(StatementWordings.id == 1))).scalar()
    kept = _kept.setdefault(_engine(session), _Kept())
    usable = kept.words if version is not None and version == kept.version else {}
    missing = [i for i in ids if i not in usable and i not in exact]
    read: dict[int, Words] = {}
    if missing:
        unseen = select(*_COLUMNS).where(one_of(StatementRow.id, missing, dialect))
        read = {r[0]: _words(r) for r in (await session.execute(unseen)).all()}
    if version is not None:  # a database without the counter (migration 0009) keeps nothing
        _keep_after_commit(session, kept, version, read | {i: exact[i] for i in ids if i in exact})
    out = dict(exact)
    for i in ids:
        words = out.get(i) or usable.get(i) or read.get(i)
        if words is not None:  # None: deleted between the two reads (PostgreSQL's read committed)
            out[i] = words
    return list(out.values())


def _recent(speakers: Sequence[str], since: datetime) -> list[Select[Any]]:
    return [
        select(StatementRow.id)
        .where(StatementRow.speaker == speaker, StatementRow.first_seen_at >= since)
        .order_by(StatementRow.first_seen_at.desc())
        .limit(MAX_CANDIDATES)
        .subquery()
        .select()
        for speaker in sorted(set(speakers))
    ]


def _recent_any(speakers: Sequence[str], since: datetime) -> Select[Any]:
    """`_recent` for every speaker at once, as ONE statement whatever the speakers (PostgreSQL:
    a lateral subquery per element of an array), so its text never changes: asyncpg prepares it
    once per connection instead of at nearly every write, where the round trip falls under the
    statement locks."""
    names = func.unnest(bindparam(None, sorted(set(speakers)), type_=ARRAY(String), unique=True)).table_valued("name").render_derived(name="sp")
    recent = (
        select(StatementRow.id)
        .where(StatementRow.speaker == names.c.name, StatementRow.first_seen_at >= since)
        .order_by(StatementRow.first_seen_at.desc())
        .limit(MAX_CANDIDATES)
        .lateral()
    )
    return select(recent.c.id).select_from(names.join(recent, true()))


async def changed(
    session: AsyncSession, speakers: Sequence[str], fingerprints: Sequence[str], since: datetime, seen: Mapping[int | None, str]
) -> list[Words]:
    """The statements `candidates` would return that are not among `seen` (id -> words) as they
    read: added since, or reworded (a rewording only ever makes a statement longer, so its id and
    length tell). One query, returning nothing in the usual case (PostgreSQL only)."""
    parts = [_recent_any(speakers, since)] if speakers else []
    if fingerprints:
        parts.append(select(StatementRow.id).where(one_of(StatementRow.fingerprint, sorted(fingerprints), "postgresql")))
    if not parts:
        return []
    ids = union(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    shape = cast(StatementRow.id, String) + ":" + cast(func.length(StatementRow.text), String)
    known = [f"{i}:{len(t)}" for i, t in seen.items() if i is not None]
    # NOT IN a subquery: PostgreSQL hashes it once (`<> ALL (array)` compared every row with every element)
    listed = select(func.unnest(bindparam(None, known, type_=ARRAY(String)))).scalar_subquery()
    query = select(*_COLUMNS).where(StatementRow.id.in_(select(ids.c.id)), shape.not_in(listed))
    return [_words(r) for r in (await session.execute(query)).all()]


async def words_of(session: AsyncSession, ids: Sequence[int]) -> list[Words]:
    """These statements as `candidates` returns them (read now, not kept)."""
    query = select(*_COLUMNS).where(one_of(StatementRow.id, sorted(ids), session.get_bind().dialect.name))
    return [_words(r) for r in (await session.execute(query)).all()]


_REWORDED = "statement_reworded"  # session.info key: the open transaction reworded statements
_BUMP = update(StatementWordings).where(StatementWordings.id == 1).values(version=StatementWordings.version + 1)


def _bump_before_commit(session: Session) -> None:
    if session.info.pop(_REWORDED, False):
        session.execute(_BUMP)


def _forget_bump(session: Session, _previous: Any) -> None:
    session.info.pop(_REWORDED, None)


async def note_reworded(session: AsyncSession) -> None:
    """Tell every process's kept words that statements' words changed (in the caller's transaction).

    Written as the transaction's last statement: the counter is one row, which the UPDATE locks
    until commit, and every writer that rewords a statement writes it; written at the rewording it
    would hold the row through the rest of the ingest transaction while other writers queue on it.
    """
    sync = session.sync_session
    if not event.contains(sync, "before_commit", _bump_before_commit):
        event.listen(sync, "before_commit", _bump_before_commit)
        event.listen(sync, "after_soft_rollback", _forget_bump)
    sync.info[_REWORDED] = True
