"""Subscriptions that stream articles, with filters, a mention and a message format; the date a
statement was said.

`stream`: every new article the subscription names (a feed, a topic) is posted as it is stored,
its story once. `include_words` / `exclude_words`: comma-separated words or phrases an article
must have / must not have; `match`: a regular expression it must match (run with a time limit);
`mention`: who is pinged (`@here`, a role, a user); `format`: compact or full. All empty on
existing rows, which keep what they did.

`statements.said_at`: the date of the article that first carried the statement (when it was first
seen, if the article is undated), filled in for the statements already stored, and indexed with
the speaker so a speaker's statements are listed newest first by it without sorting them all.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("stream", "include_words", "exclude_words", "match", "mention", "format")


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("include_words", sa.String(500), nullable=True))
        batch.add_column(sa.Column("exclude_words", sa.String(500), nullable=True))
        batch.add_column(sa.Column("match", sa.String(300), nullable=True))
        batch.add_column(sa.Column("mention", sa.String(100), nullable=True))
        batch.add_column(sa.Column("format", sa.String(10), nullable=True))
    op.add_column("statements", sa.Column("said_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE statements SET said_at = COALESCE("
        "(SELECT articles.published_at FROM articles WHERE articles.id = statements.first_article_id), first_seen_at)"
    )
    op.create_index("ix_statements_speaker_said_at", "statements", ["speaker", "said_at"])


def downgrade() -> None:
    op.drop_index("ix_statements_speaker_said_at", table_name="statements")
    op.drop_column("statements", "said_at")
    with op.batch_alter_table("subscriptions") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
