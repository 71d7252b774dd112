"""The archive's tables.

One schema for SQLite and PostgreSQL; the full-text index differs per backend and is created by the
migrations (FTS5 with triggers on SQLite, a generated tsvector with GIN on PostgreSQL). Times are
stored as timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# An integer primary key that is SQLite's rowid (so FTS5 can use it) and a BIGSERIAL on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite's DateTime drops the offset and returns naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_time(value: datetime) -> str:
    """A datetime as SQLite stores it, for comparisons in hand-written SQL."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    topics: Mapped[str] = mapped_column(String(500), default="")  # space-separated topic names
    full_text: Mapped[str] = mapped_column(String(10), default="auto")
    source: Mapped[str] = mapped_column(String(10), default="config")  # config | cli | chat | opml
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # conditional GET
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    # the schedule lives in the database
    next_check_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    interval_s: Mapped[int] = mapped_column(Integer, default=900)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    # health
    last_checked_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Story(Base):
    """Near-identical articles from several outlets, shown once in digests."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str | None] = mapped_column(String(1000))
    article_count: Mapped[int] = mapped_column(Integer, default=1)
    signature: Mapped[bytes | None]  # serialised MinHash of the first article
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_published_at_id", "published_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str | None] = mapped_column(String(2048), unique=True)  # canonical URL
    guid: Mapped[str | None] = mapped_column(String(2048), unique=True)  # feed GUID or seed key
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"), index=True)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)
    title: Mapped[str | None] = mapped_column(String(1000))
    outlet: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None]
    published_inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    text: Mapped[str] = mapped_column(Text, default="")
    summary_only: Mapped[bool] = mapped_column(Boolean, default=False)
    fulltext_status: Mapped[str | None] = mapped_column(String(20))  # queued|fetched|blocked|failed|skipped
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    topics: Mapped[str] = mapped_column(String(500), default="")  # space-separated, indexed for search
    origin: Mapped[str] = mapped_column(String(10), default="feed")  # seed | feed | page
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # full-text queue (migration 0005): the articles table with fulltext_status='queued' is the queue
    fulltext_attempts: Mapped[int] = mapped_column(Integer, default=0)
    fulltext_next_at: Mapped[datetime | None]  # due time: a retry's Retry-After/backoff, or a worker's lease
    fulltext_note: Mapped[str | None] = mapped_column(String(300))  # why it ended so: "robots.txt disallows", "paywall teaser"


class ArticleRevision(Base):
    """The previous version of an edited article, kept so an edit is visible and never re-alerted."""

    __tablename__ = "article_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(1000))
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)


class FigureRow(Base):
    """Figures tracked from chat (`/news track`); the config's figures are the defaults, not stored here."""

    __tablename__ = "figures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    aliases: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"aliases": [...], "titles": [...]}
    gender: Mapped[str | None] = mapped_column(String(1))


class StatementRow(Base):
    """One statement by one speaker, however many articles carry it."""

    __tablename__ = "statements"
    __table_args__ = (
        Index("ix_statements_speaker_first_seen", "speaker", "first_seen_at"),
        Index("ix_statements_speaker_said_at", "speaker", "said_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    speaker: Mapped[str | None] = mapped_column(String(200))
    figure: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(10))  # direct | reported (never merged across kinds)
    text: Mapped[str] = mapped_column(Text)
    normalised: Mapped[str] = mapped_column(Text)
    first_article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The date of the article that first carried it (when first seen, if undated): `quotes` and
    # `figure` list a speaker's statements newest first by it, through the (speaker, said_at) index.
    said_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    outlets: Mapped[int] = mapped_column(Integer, default=1)
    sources: Mapped[int] = mapped_column(Integer, default=1)


class StatementWordings(Base):
    """One row: how many times any statement's words have changed (migration 0009). Writers that
    keep statements' words between transactions compare it to know their copy is still right."""

    __tablename__ = "statement_wordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class StatementSource(Base):
    __tablename__ = "statement_sources"
    __table_args__ = (UniqueConstraint("statement_id", "article_id", "start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    cue: Mapped[str | None] = mapped_column(String(50))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    last_digest_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """A channel's interest: a figure, topic or keyword, for alerts and/or the digest."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("channel_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # figure | topic | keyword | feed
    value: Mapped[str] = mapped_column(String(200))
    alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_cron: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(10), default="chat")  # config | chat
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A stream posts every new article the subscription names (kind feed: value is the feed id; topic).
    stream: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    include_words: Mapped[str | None] = mapped_column(String(500))  # comma-separated; any one must appear
    exclude_words: Mapped[str | None] = mapped_column(String(500))  # comma-separated; none may appear
    match: Mapped[str | None] = mapped_column(String(300))  # a regular expression, run with a time limit
    mention: Mapped[str | None] = mapped_column(String(100))  # @here, @role, <@U…>: pinged with each post
    format: Mapped[str | None] = mapped_column(String(10))  # compact | full (None: full)


class Delivery(Base):
    """The outbox: one row per message owed to one channel, written with the statement it announces."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # alert | digest
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sending|sent|failed|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class IngestCycle(Base):
    """One poll cycle's figures, for `/news status`, `/healthz` and the health digest."""

    __tablename__ = "ingest_cycles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    worker: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- ingestion: story clustering keys, so near-duplicate lookups are plain SQL ---------
class StoryBand(Base):
    """One LSH band key of a story's MinHash signature; articles sharing a key are candidates."""

    __tablename__ = "story_bands"
    __table_args__ = {"sqlite_with_rowid": False}  # migration 0008: read by key only

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True)


class StoryBandLock(Base):
    """A band key's lock row: writers starting stories with this key take turns (PostgreSQL; see
    bot.archive.stories). Holds nothing else."""

    __tablename__ = "story_band_locks"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


# Full-text queue lookups (migration 0005): due queued articles without scanning the table.
Index(
    "ix_articles_fulltext_queue",
    Article.fulltext_status,
    Article.fulltext_next_at,
    sqlite_where=Article.fulltext_status.is_not(None),  # migration 0010: articles in the queue's life only
    postgresql_where=Article.fulltext_status.is_not(None),
)

# Search (migration 0006): a `source:` outlet's articles found by index on PostgreSQL
# (bot.store.search.postgres). Date bounds come from `article_days` (migration 0007, not a model).
Index("ix_articles_outlet_id", Article.outlet, Article.id)
