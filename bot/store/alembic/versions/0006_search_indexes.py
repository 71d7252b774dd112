"""Search indexes: date filters bounded by id on both backends.

`ix_articles_id_published` (id, published_at) lets search find the largest id published before a
`before:` date (or the smallest since a `since:` date) by walking ids down (up) from the newest
(oldest) article past the few on the far side of the date, reading small index entries instead of
whole article rows. See `bot.store.search.id_bounds`.

`ix_articles_outlet_id` (outlet, id): PostgreSQL finds a `source:` outlet's articles from the
index (bitmap-ANDed with the words' GIN posting lists) instead of testing the outlet of every
article matching the words: a small outlet's 1,000 articles among a million.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # if_not_exists: a benchmark archive may have been given the index by hand before migrating
    op.create_index("ix_articles_id_published", "articles", ["id", "published_at"], if_not_exists=True)
    op.create_index("ix_articles_outlet_id", "articles", ["outlet", "id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_articles_outlet_id", table_name="articles", if_exists=True)
    op.drop_index("ix_articles_id_published", table_name="articles", if_exists=True)
