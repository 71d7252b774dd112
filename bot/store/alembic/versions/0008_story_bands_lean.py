"""Story band keys without the story_id index (and, on SQLite, without a rowid).

Every new story writes sixteen `story_bands` rows: 320,000 for a first cycle of 20,000 articles,
sixteen times the articles themselves. Each row went into three B-trees on SQLite (the rowid
table, the primary key, the story_id index). Matching reads the rows by key only (the primary
key's prefix), and the pairs it reads name the stories, so the story_id index served nothing but
a story's deletion, which nothing does. Measured on 320,000 rows with SQLite: 1.83 s of CPU with
the index and a rowid, 1.13 s as a WITHOUT ROWID table keyed (key, story_id). The foreign key
stays; a future pruning of stories deletes their bands by key through the signature's band keys,
or adds the index back.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_TABLE = """CREATE TABLE story_bands{suffix} (
    "key" BIGINT NOT NULL,
    story_id INTEGER NOT NULL,
    CONSTRAINT pk_story_bands PRIMARY KEY ("key", story_id),
    CONSTRAINT fk_story_bands_story_id_stories FOREIGN KEY(story_id) REFERENCES stories (id) ON DELETE CASCADE
){options}"""


def _sqlite_rebuild(options: str) -> None:
    op.execute(_SQLITE_TABLE.format(suffix="_new", options=options))
    op.execute('INSERT INTO story_bands_new ("key", story_id) SELECT "key", story_id FROM story_bands')
    op.execute("DROP TABLE story_bands")
    op.execute("ALTER TABLE story_bands_new RENAME TO story_bands")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(" WITHOUT ROWID")  # the old table and its index go with the copy
    else:
        op.drop_index("ix_story_bands_story_id", table_name="story_bands")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild("")
    op.create_index("ix_story_bands_story_id", "story_bands", ["story_id"])
