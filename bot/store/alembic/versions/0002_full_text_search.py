"""Full-text search: FTS5 kept in step by triggers on SQLite; tsvector + GIN on PostgreSQL.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    # External content: the text lives once, in `articles`; the index holds only the postings.
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, text, topics, outlet,
        content='articles', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, text, topics, outlet)
        VALUES (new.id, new.title, new.text, new.topics, new.outlet);
    END""",
    """CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text, topics, outlet)
        VALUES ('delete', old.id, old.title, old.text, old.topics, old.outlet);
    END""",
    """CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, text, topics, outlet ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text, topics, outlet)
        VALUES ('delete', old.id, old.title, old.text, old.topics, old.outlet);
        INSERT INTO articles_fts(rowid, title, text, topics, outlet)
        VALUES (new.id, new.title, new.text, new.topics, new.outlet);
    END""",
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
]

POSTGRES_UP = [
    """ALTER TABLE articles ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(text, '')), 'B')) STORED""",
    "ALTER TABLE articles ADD COLUMN topic_list text[] GENERATED ALWAYS AS (string_to_array(topics, ' ')) STORED",
    "CREATE INDEX ix_articles_tsv ON articles USING gin (tsv)",
    "CREATE INDEX ix_articles_topic_list ON articles USING gin (topic_list)",
    # "newest first, undated last" for filter-only lookups (`topic:nato`), walked without a sort
    "CREATE INDEX ix_articles_published_desc ON articles (published_at DESC NULLS LAST, id DESC)",
]


def upgrade() -> None:
    statements = SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP
    for sql in statements:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("articles_fts_ai", "articles_fts_ad", "articles_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_articles_published_desc")
        op.execute("DROP INDEX IF EXISTS ix_articles_topic_list")
        op.execute("DROP INDEX IF EXISTS ix_articles_tsv")
        op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS topic_list")
        op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS tsv")
