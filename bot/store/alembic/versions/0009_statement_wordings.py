"""A counter of statement rewordings, so the ingester can keep statements' words between writes.

Every ingest write matches its new statements against each speaker's recent ones (400 a
speaker): it read all their words again each time, 3,200 rows of text in a first cycle's
every batch (2.1 s of 25 s, and as much again turning them into Python objects). Now it reads
which statements those are (their ids, from the (speaker, first_seen_at) index alone) and the
words of only those it has not seen. The words a process keeps are right while no statement has
been reworded (a longer wording replacing a partial quote, the only change a statement's words
ever see): each rewording adds one to `statement_wordings.version` in its own transaction, and a
reader that finds another version reads every statement's words afresh.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statement_wordings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute("INSERT INTO statement_wordings (id, version) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("statement_wordings")
