"""A per-day summary of article ids, so a `since:`/`before:` date costs one small read.

`article_days` holds, for each publication day (UTC), the smallest and largest article id
published on it. `bot.store.search.id_bounds` reads a date filter's id range from it instead of
the date index (at 1M articles, a `before:` in the middle of the archive read ~300,000 index
entries: 60-110 ms, the whole p99 of SQLite search). The (id, published_at) index that walk used
is dropped: one index less to keep up on every insert.

Triggers keep it in the articles' own transactions, so it is exactly as visible as they are, and
only ever widen a day's range: an article moved to another day (a revised date) or deleted leaves
its id in the old day's range. The range is then a superset, which costs a few extra index
entries, never a missed article: search still checks each row's date.
- SQLite (one writer): one row per day, upserted per article.
- PostgreSQL: a row per inserting statement and day, appended (a statement trigger over the new
  rows), because every ingester's transaction upserting today's row would queue the others on its
  row lock until it commits. `bot.store.search.compact_article_days` folds them to a row per day
  after each ingest cycle.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Day keys are the date part of SQLite's stored datetime text ("2025-06-01 12:00:00.000000").
_UPSERT = """INSERT INTO article_days (day, min_id, max_id) VALUES (substr(new.published_at, 1, 10), new.id, new.id)
        ON CONFLICT (day) DO UPDATE SET min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id)"""

SQLITE_UP = [
    "CREATE TABLE article_days (day TEXT PRIMARY KEY, min_id INTEGER NOT NULL, max_id INTEGER NOT NULL) WITHOUT ROWID",
    f"""CREATE TRIGGER article_days_ai AFTER INSERT ON articles WHEN new.published_at IS NOT NULL BEGIN
        {_UPSERT};
    END""",
    f"""CREATE TRIGGER article_days_au AFTER UPDATE OF published_at ON articles
        WHEN new.published_at IS NOT NULL BEGIN
        {_UPSERT};
    END""",
    """INSERT INTO article_days (day, min_id, max_id)
        SELECT substr(published_at, 1, 10), min(id), max(id) FROM articles
        WHERE published_at IS NOT NULL GROUP BY 1""",
]

POSTGRES_UP = [
    "CREATE TABLE article_days (day date NOT NULL, min_id bigint NOT NULL, max_id bigint NOT NULL)",
    # (day, max_id, min_id): both bounds come from an index-only scan
    "CREATE INDEX ix_article_days_day ON article_days (day, max_id, min_id)",
    """CREATE FUNCTION article_days_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO article_days (day, min_id, max_id)
        SELECT (published_at AT TIME ZONE 'UTC')::date, min(id), max(id) FROM added
        WHERE published_at IS NOT NULL GROUP BY 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER article_days_ai AFTER INSERT ON articles REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION article_days_added()""",
    """CREATE FUNCTION article_days_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO article_days (day, min_id, max_id)
        VALUES ((NEW.published_at AT TIME ZONE 'UTC')::date, NEW.id, NEW.id);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER article_days_au AFTER UPDATE OF published_at ON articles FOR EACH ROW
        WHEN (NEW.published_at IS NOT NULL AND NEW.published_at IS DISTINCT FROM OLD.published_at)
        EXECUTE FUNCTION article_days_moved()""",
    """INSERT INTO article_days (day, min_id, max_id)
        SELECT (published_at AT TIME ZONE 'UTC')::date, min(id), max(id) FROM articles
        WHERE published_at IS NOT NULL GROUP BY 1""",
]


def upgrade() -> None:
    for sql in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP:
        op.execute(sql)
    op.drop_index("ix_articles_id_published", table_name="articles", if_exists=True)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_index("ix_articles_id_published", "articles", ["id", "published_at"], if_not_exists=True)
    for trigger in ("article_days_au", "article_days_ai"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + ("" if sqlite else " ON articles"))
    op.execute("DROP TABLE IF EXISTS article_days")
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS article_days_moved()")
        op.execute("DROP FUNCTION IF EXISTS article_days_added()")
