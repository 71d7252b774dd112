"""The one write path into the archive, used by seeds, feeds and full-text pages alike.

An article is stored once however it arrives (same GUID, same canonical URL, or the same content
from the same outlet re-published); an edit updates it and keeps the old version as a revision.
Callers get back what happened so they can count it and run extraction on what changed.

Why Core statements rather than ORM objects: a first ingest cycle stores tens of thousands of
articles, and the unit of work's per-object bookkeeping cost more CPU than parsing the feeds.
Lookups read plain rows, new articles go in as one multi-row INSERT … RETURNING, and only the
rare edit goes through an ORM object (it needs the old version for the revision row).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive.stories import assign_stories, signature
from bot.store.db import insert_returning_ids, one_of
from bot.store.models import Article, ArticleRevision, utcnow
from bot.text.content_hash import content_hash

__all__ = [
    "ArticleIn", "ArticleRow", "Outcome", "Stored", "content_hash", "lookup", "new_values", "plan", "plan_from", "store_article", "store_articles",
    "will_change",
]

Outcome = Literal["new", "updated", "unchanged"]
_ARTICLES: Table = Article.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ArticleIn:
    text: str
    title: str | None = None
    guid: str | None = None
    url: str | None = None
    outlet: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    published_inferred: bool = False
    topics: tuple[str, ...] = ()
    feed_id: int | None = None
    origin: str = "feed"
    summary_only: bool = False
    digest: str | None = None  # content_hash(title, text) when the caller computed it already
    signature: bytes | None = None  # MinHash for story grouping, when the caller computed it already
    bands: tuple[int, ...] | None = None  # that signature's LSH band keys, computed with it (off the event loop)
    fulltext_status: str | None = None  # set on insert only: "queued" puts the article's page in the queue
    fulltext_note: str | None = None


@dataclass
class ArticleRow:
    """A stored article as extraction, alerts and counting read it: a plain snapshot, no session state."""

    id: int
    title: str | None
    text: str
    url: str | None
    guid: str | None
    outlet: str | None
    published_at: datetime | None
    topics: str
    summary_only: bool
    content_hash: str
    story_id: int | None = None
    fulltext_status: str | None = None
    feed_id: int | None = None

    @classmethod
    def of(cls, a: Any) -> ArticleRow:
        """From an ORM `Article` or a Core row with the same column names."""
        return cls(**{name: getattr(a, name) for name in _ROW_FIELDS})


_ROW_FIELDS = tuple(ArticleRow.__dataclass_fields__)
_ROW_COLUMNS = [_ARTICLES.c[name] for name in _ROW_FIELDS]


@dataclass
class Stored:
    article: ArticleRow
    outcome: Outcome
    changed_text: bool = False
    notes: list[str] = field(default_factory=list)


async def store_article(session: AsyncSession, item: ArticleIn, *, stories: bool = False) -> Stored:
    """Insert or update one article in the caller's transaction (the caller commits)."""
    return (await store_articles(session, [item], stories=stories))[0]


async def _existing_for(session: AsyncSession, items: Sequence[ArticleIn], digests: list[str]) -> list[ArticleRow]:
    """Every stored article any item could be (by GUID, URL, or content hash + outlet), in one query."""
    guids = sorted({i.guid for i in items if i.guid})
    urls = sorted({i.url for i in items if i.url})
    hashes = sorted({d for i, d in zip(items, digests, strict=True) if i.outlet})
    found: dict[int, ArticleRow] = {}
    dialect = session.get_bind().dialect.name
    stmt = _lookup(dialect)
    if stmt is None:  # a backend without a one-parameter list form: the plain IN lists
        queries = [(c, v) for c, v in ((_ARTICLES.c.guid, guids), (_ARTICLES.c.url, urls), (_ARTICLES.c.content_hash, hashes)) if v]
        rows = [r for c, v in queries for r in await session.execute(select(*_ROW_COLUMNS).where(one_of(c, v, dialect)))]
    else:
        wrap = json.dumps if dialect == "sqlite" else list
        rows = list(await session.execute(stmt, {"guids": wrap(guids), "urls": wrap(urls), "hashes": wrap(hashes)}))
    for r in rows:
        if r.id not in found:
            found[r.id] = ArticleRow.of(r)
    return list(found.values())


_LOOKUPS: dict[str, CompoundSelect[Any]] = {}


def _lookup(dialect: str) -> CompoundSelect[Any] | None:
    """The articles with one of the given GUIDs, URLs or content hashes: one statement, built once.

    Three index lookups under UNION ALL (an article found twice is kept once by the caller), each
    list one bound parameter (see `one_of`). Built once per dialect, so SQLAlchemy neither builds
    nor keys a fresh statement per batch: two of these run for every batch a cycle writes.
    """
    if dialect not in ("sqlite", "postgresql"):
        return None
    if dialect not in _LOOKUPS:
        parts = []
        for col, name in ((_ARTICLES.c.guid, "guids"), (_ARTICLES.c.url, "urls"), (_ARTICLES.c.content_hash, "hashes")):
            if dialect == "sqlite":
                listed: Select[Any] = select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=String)))
                cond: ColumnElement[bool] = col.in_(listed.scalar_subquery())
            else:
                cond = col == any_(bindparam(name, type_=ARRAY(col.type)))
            parts.append(select(*_ROW_COLUMNS).where(cond))
        _LOOKUPS[dialect] = union_all(*parts)
    return _LOOKUPS[dialect]


class _Index:
    """The articles an item can be: stored ones, and new ones earlier in the same batch."""

    def __init__(self) -> None:
        self.by_guid: dict[str, ArticleRow] = {}
        self.by_url: dict[str, ArticleRow] = {}
        self.by_hash: dict[tuple[str, str], ArticleRow] = {}

    def add(self, a: ArticleRow, *, replace: bool = False) -> None:
        put = dict.__setitem__ if replace else dict.setdefault
        if a.guid:
            put(self.by_guid, a.guid, a)
        if a.url:
            put(self.by_url, a.url, a)
        if a.outlet:
            put(self.by_hash, (a.content_hash, a.outlet), a)

    def find(self, item: ArticleIn, digest: str) -> ArticleRow | None:
        return (
            (self.by_guid.get(item.guid) if item.guid else None)
            or (self.by_url.get(item.url) if item.url else None)
            # The same words from the same outlet under a new GUID or URL: a re-published entry.
            or (self.by_hash.get((digest, item.outlet)) if item.outlet else None)
        )


async def store_articles(
    session: AsyncSession,
    items: Sequence[ArticleIn],
    *,
    stories: bool = False,
    chosen: Mapping[ArticleIn, int] | None = None,
    existing: Sequence[ArticleRow] | None = None,
    insert: bool = True,
) -> list[Stored]:
    """`store_article` for a batch (a feed's entries, or several feeds'): the same rules, a handful of queries.

    Items in the batch are matched against each other too, so a feed listing one story twice (or
    two feeds' copies in one batch) still stores it once. `stories=True` groups the new articles
    into stories (near-identical wire copy) as they are inserted; `chosen`: stories assigned
    before the transaction (`stories.assign_ahead`), by item, used for the items inserted.
    `existing`: the stored articles the items can be, as `lookup` read them before the
    transaction (the same rows `plan` decided from), instead of reading them again here; an
    article another writer inserted since then fails the INSERT on its unique key, and the
    caller retries. `insert=False`: the new articles are returned with id 0, not inserted (the
    caller inserts them with its own statement and sets their ids); no statement runs at all
    unless an item updates a stored article.
    """
    digests = [i.digest or content_hash(i.title, i.text) for i in items]
    index = _Index()
    for a in existing if existing is not None else await _existing_for(session, items, digests):
        index.add(a)
    out: list[Stored] = []
    new: list[tuple[ArticleIn, ArticleRow]] = []
    for item, digest in zip(items, digests, strict=True):
        prior = index.find(item, digest)
        if prior is None:
            row = _new_row(item, digest)
            index.add(row)
            new.append((item, row))
            out.append(Stored(row, "new", changed_text=True))
        elif prior.id == 0:  # an earlier item of this same batch: keep the first
            same = prior.content_hash == digest
            out.append(Stored(prior, "unchanged", notes=[] if same else ["duplicate within batch"]))
        else:
            stored = await _update(session, prior, item, digest)
            index.add(stored.article, replace=True)
            out.append(stored)
    if new and insert:
        await _insert(session, new, stories, chosen or {})
    return out


async def will_change(session: AsyncSession, items: Sequence[ArticleIn]) -> list[bool]:
    """Which items `store_articles` would store with new text (new, or edited), as the archive
    reads now; writes nothing. For work that can be done before the write transaction (matching
    the items' statements); the write itself decides again."""
    return [changed for _outcome, changed in await plan(session, items)]


async def lookup(session: AsyncSession, items: Sequence[ArticleIn]) -> list[ArticleRow]:
    """The stored articles the items can be (by GUID, URL, or content hash + outlet), in one query."""
    return await _existing_for(session, items, [i.digest or content_hash(i.title, i.text) for i in items])


async def plan(session: AsyncSession, items: Sequence[ArticleIn]) -> list[tuple[Outcome, bool]]:
    """What `store_articles` would do with each item as the archive reads now, (outcome, text
    changed); writes nothing. The ingester assigns the new ones' stories and matches the changed
    ones' statements from it before its write transaction; the write itself decides again."""
    return plan_from(items, await lookup(session, items))


def plan_from(items: Sequence[ArticleIn], rows: Sequence[ArticleRow]) -> list[tuple[Outcome, bool]]:
    """`plan` from the rows `lookup` read (pure): what `store_articles(existing=rows)` does."""
    digests = [i.digest or content_hash(i.title, i.text) for i in items]
    index = _Index()
    for a in rows:
        index.add(a)
    out: list[tuple[Outcome, bool]] = []
    for item, digest in zip(items, digests, strict=True):
        existing = index.find(item, digest)
        if existing is None:
            index.add(_new_row(item, digest))
            out.append(("new", True))
        elif existing.id == 0 or existing.content_hash == digest or (item.summary_only and not existing.summary_only):
            out.append(("unchanged", False))
        else:
            out.append(("updated", existing.text != item.text))
            index.add(ArticleRow(**{**existing.__dict__, "text": item.text, "content_hash": digest}), replace=True)
    return out


def _new_row(item: ArticleIn, digest: str) -> ArticleRow:
    return ArticleRow(
        id=0,  # set by the INSERT
        title=item.title,
        text=item.text,
        url=item.url,
        guid=item.guid,
        outlet=item.outlet,
        published_at=item.published_at,
        topics=" ".join(sorted(set(item.topics))),
        summary_only=item.summary_only,
        content_hash=digest,
        fulltext_status=item.fulltext_status,
        feed_id=item.feed_id,
    )


async def _insert(
    session: AsyncSession, new: list[tuple[ArticleIn, ArticleRow]], stories: bool, chosen: Mapping[ArticleIn, int]
) -> None:
    if stories:
        picked = [chosen.get(i) for i, _ in new]
        sigs = [None if p is not None else i.signature if i.signature is not None else signature(i.title, i.text)
                for (i, _), p in zip(new, picked, strict=True)]
        keys = [i.bands if i.signature is not None else None for i, _ in new]
        assigned = await assign_stories(session, [r.title for _, r in new], sigs, keys, chosen=picked)
        for (_, row), story_id in zip(new, assigned, strict=True):
            row.story_id = story_id
    ids = await insert_returning_ids(session, _ARTICLES, new_values(new))
    for (_, row), new_id in zip(new, ids, strict=True):
        row.id = new_id


def new_values(new: Sequence[tuple[ArticleIn, ArticleRow]]) -> list[dict[str, Any]]:
    """The articles table's columns of new articles (item, row as `store_articles` returned it,
    story id set), as they are inserted."""
    now = utcnow()
    return [
        {
            "guid": row.guid,
            "url": row.url,
            "feed_id": item.feed_id,
            "story_id": row.story_id,
            "title": row.title,
            "outlet": row.outlet,
            "author": item.author,
            "published_at": row.published_at,
            "published_inferred": item.published_inferred,
            "first_seen_at": now,
            "text": row.text,
            "summary_only": row.summary_only,
            "fulltext_status": row.fulltext_status,
            "fulltext_note": item.fulltext_note,
            "content_hash": row.content_hash,
            "topics": row.topics,
            "origin": item.origin,
            "revision": 1,
        }
        for item, row in new
    ]


async def _update(session: AsyncSession, existing: ArticleRow, item: ArticleIn, digest: str) -> Stored:
    if existing.content_hash == digest:
        if not existing.guid and item.guid:
            await session.execute(update(_ARTICLES).where(_ARTICLES.c.id == existing.id).values(guid=item.guid))
            existing.guid = item.guid
        return Stored(existing, "unchanged")
    if item.summary_only and not existing.summary_only:
        # A feed's summary never overwrites the full text fetched from the page.
        return Stored(existing, "unchanged", notes=["kept full text over feed summary"])
    # An edit is rare: the ORM object carries the old version into the revision row.
    article = await session.get(Article, existing.id)
    assert article is not None
    session.add(
        ArticleRevision(
            article_id=article.id,
            revision=article.revision,
            title=article.title,
            text=article.text,
            content_hash=article.content_hash,
        )
    )
    changed_text = article.text != item.text
    article.title = item.title or article.title
    article.text = item.text
    article.content_hash = digest
    article.topics = " ".join(sorted(set(item.topics)))
    article.summary_only = item.summary_only
    article.author = item.author or article.author
    if item.published_at and not article.published_at:
        article.published_at = item.published_at
    article.revision += 1
    article.updated_at = utcnow()
    return Stored(ArticleRow.of(article), "updated", changed_text=changed_text)
