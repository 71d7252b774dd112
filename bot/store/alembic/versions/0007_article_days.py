"""SQLite: a per-day summary of article ids, so a `before:` date costs one small read.

`article_days` holds, for each publication day, the smallest and largest article id published on
it. `bot.store.search.id_bounds` reads the largest id before a `before:` date from it instead of
scanning the date index (at 1M articles a date in the middle of the archive read ~300,000 index
entries: 60-110 ms, the whole p99 of SQLite search).

Triggers keep it in step and only ever widen a day's range: an article moved to another day (a
revised date) or deleted leaves its id in the old day's range. The range is then a superset,
which costs a few extra index entries, never a missed article: search still checks each row's
date. Ids follow arrival, so a late arrival for an old day widens that day to its new id.

PostgreSQL gets nothing here: there, every ingester's transaction would update today's row, and
concurrent ingesters would queue on its row lock until each commits.

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


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for sql in SQLITE_UP:
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS article_days_au")
        op.execute("DROP TRIGGER IF EXISTS article_days_ai")
        op.execute("DROP TABLE IF EXISTS article_days")
