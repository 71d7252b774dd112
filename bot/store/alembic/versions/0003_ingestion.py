"""Schema changes for ingestion: LSH band keys for story clustering.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_bands",
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("story_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name="fk_story_bands_story_id_stories", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key", "story_id", name="pk_story_bands"),
    )
    op.create_index("ix_story_bands_story_id", "story_bands", ["story_id"])


def downgrade() -> None:
    op.drop_index("ix_story_bands_story_id", table_name="story_bands")
    op.drop_table("story_bands")
