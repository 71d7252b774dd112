"""Schema changes for fulltext: the articles table doubles as the durable page-fetch queue.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch_op:
        batch_op.add_column(sa.Column("fulltext_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("fulltext_next_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("fulltext_note", sa.String(length=300), nullable=True))
    op.create_index("ix_articles_fulltext_queue", "articles", ["fulltext_status", "fulltext_next_at"])


def downgrade() -> None:
    op.drop_index("ix_articles_fulltext_queue", table_name="articles")
    with op.batch_alter_table("articles") as batch_op:
        batch_op.drop_column("fulltext_note")
        batch_op.drop_column("fulltext_next_at")
        batch_op.drop_column("fulltext_attempts")
