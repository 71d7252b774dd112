"""The one write path into the archive, used by seeds, feeds and full-text pages alike.

An article is stored once however it arrives (same GUID, same canonical URL, or the same content
from the same outlet re-published); an edit updates it and keeps the old version as a revision.
Callers get back what happened so they can count it and run extraction on what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ingest.digest import content_hash
from bot.store.models import Article, ArticleRevision, utcnow

__all__ = ["ArticleIn", "Outcome", "Stored", "content_hash", "find_existing", "store_article", "store_articles"]

Outcome = Literal["new", "updated", "unchanged"]


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


@dataclass
class Stored:
    article: Article
    outcome: Outcome
    changed_text: bool = False
    notes: list[str] = field(default_factory=list)


async def find_existing(session: AsyncSession, item: ArticleIn, digest: str) -> Article | None:
    keys = []
    if item.guid:
        keys.append(Article.guid == item.guid)
    if item.url:
        keys.append(Article.url == item.url)
    if keys:
        found = (await session.execute(select(Article).where(or_(*keys)).limit(1))).scalar_one_or_none()
        if found is not None:
            return found
    if item.outlet:
        # The same words from the same outlet under a new GUID or URL: a re-published entry.
        return (
            await session.execute(
                select(Article).where(Article.content_hash == digest, Article.outlet == item.outlet).limit(1)
            )
        ).scalar_one_or_none()
    return None


async def store_article(session: AsyncSession, item: ArticleIn) -> Stored:
    """Insert or update one article in the caller's transaction (the caller commits)."""
    return (await store_articles(session, [item]))[0]


def _chunks(values: list[str], n: int = 400) -> list[list[str]]:
    return [values[i : i + n] for i in range(0, len(values), n)]


async def _existing_for(session: AsyncSession, items: list[ArticleIn], digests: list[str]) -> list[Article]:
    """Every stored article any item could be (by GUID, URL, or content hash + outlet), in few queries."""
    guids = sorted({i.guid for i in items if i.guid})
    urls = sorted({i.url for i in items if i.url})
    hashes = sorted({d for i, d in zip(items, digests, strict=True) if i.outlet})
    found: dict[int, Article] = {}
    for col, values in ((Article.guid, guids), (Article.url, urls), (Article.content_hash, hashes)):
        for chunk in _chunks(values):
            for a in (await session.execute(select(Article).where(col.in_(chunk)))).scalars():
                found[a.id] = a
    return list(found.values())


async def store_articles(session: AsyncSession, items: list[ArticleIn], *, flush: bool = True) -> list[Stored]:
    """`store_article` for a batch (a feed's entries, or several feeds'): the same rules, a handful of queries.

    Items in the batch are matched against each other too, so a feed listing one story twice (or
    two feeds' copies in one batch) still stores it once. `flush=False` leaves the new rows
    pending, so the caller can still set columns that then go into the same INSERT.
    """
    digests = [i.digest or content_hash(i.title, i.text) for i in items]
    by_guid: dict[str, Article] = {}
    by_url: dict[str, Article] = {}
    by_hash: dict[tuple[str, str], Article] = {}

    def index(a: Article) -> None:
        if a.guid:
            by_guid.setdefault(a.guid, a)
        if a.url:
            by_url.setdefault(a.url, a)
        if a.outlet:
            by_hash.setdefault((a.content_hash, a.outlet), a)

    for a in await _existing_for(session, items, digests):
        index(a)
    out: list[Stored] = []
    for item, digest in zip(items, digests, strict=True):
        existing = (
            (by_guid.get(item.guid) if item.guid else None)
            or (by_url.get(item.url) if item.url else None)
            # The same words from the same outlet under a new GUID or URL: a re-published entry.
            or (by_hash.get((digest, item.outlet)) if item.outlet else None)
        )
        if existing is None:
            article = _new_article(item, digest)
            session.add(article)
            index(article)
            out.append(Stored(article, "new", changed_text=True))
        else:
            out.append(_update(session, existing, item, digest))
            index(existing)
    if flush:
        await session.flush()
    return out


def _new_article(item: ArticleIn, digest: str) -> Article:
    return Article(
        guid=item.guid,
        url=item.url,
        feed_id=item.feed_id,
        title=item.title,
        outlet=item.outlet,
        author=item.author,
        published_at=item.published_at,
        published_inferred=item.published_inferred,
        text=item.text,
        summary_only=item.summary_only,
        content_hash=digest,
        topics=" ".join(sorted(set(item.topics))),
        origin=item.origin,
        revision=1,
    )


def _update(session: AsyncSession, existing: Article, item: ArticleIn, digest: str) -> Stored:
    if existing.content_hash == digest:
        if not existing.guid and item.guid:
            existing.guid = item.guid
        return Stored(existing, "unchanged")
    if item.summary_only and not existing.summary_only:
        # A feed's summary never overwrites the full text fetched from the page.
        return Stored(existing, "unchanged", notes=["kept full text over feed summary"])
    if existing.id is None:  # an earlier item of this same batch: keep the first, note the clash
        return Stored(existing, "unchanged", notes=["duplicate within batch"])
    session.add(
        ArticleRevision(
            article_id=existing.id,
            revision=existing.revision,
            title=existing.title,
            text=existing.text,
            content_hash=existing.content_hash,
        )
    )
    changed_text = existing.text != item.text
    existing.title = item.title or existing.title
    existing.text = item.text
    existing.content_hash = digest
    existing.topics = " ".join(sorted(set(item.topics)))
    existing.summary_only = item.summary_only
    existing.author = item.author or existing.author
    if item.published_at and not existing.published_at:
        existing.published_at = item.published_at
    existing.revision += 1
    existing.updated_at = utcnow()
    return Stored(existing, "updated", changed_text=changed_text)
