"""PostgreSQL search matches what SQLite's FTS5 matches, phrases are found from an index, and
writers starting stories lock band keys, not the whole archive.

`story_band_locks`: one row per band key a story was started with; a writer starting stories
locks its keys' rows (bot.archive.stories) instead of one advisory lock for every writer.

FTS5 (`porter unicode61`) keeps every word, stems with the original Porter algorithm and splits
hyphenated words into their parts. The `english` configuration dropped stop words (so `"of the"`
matched nothing and `"the president"` matched every "president"), stemmed with Porter2, and
indexed "well-known" a third time as one lexeme, shifting the positions of every later word. The
`newsbot` configuration: Snowball's `porter` stemmer with no stop word list, and no lexeme for a
hyphenated word as a whole (its parts keep the positions FTS5 gives them). A phrase no longer
runs from the title's last word into the text's first (FTS5 matches within one column).
Left different: numbers with a dot or comma ("3.5" is one lexeme here, two words in FTS5), URLs
and e-mail addresses (kept whole here), and accents (FTS5 folds them; `unaccent` is an extension
not every server has).

`tsv_pairs` holds each article's adjacent lexeme pairs ("white hous"), title and text apart as
FTS5 matches a phrase within one column. GIN keeps no positions, so without it a phrase of common
words ("nato summit": both words in 86,000 of 1M articles, the phrase in 280) could only be
checked by reading every candidate's TOASTed tsvector (~20 µs each: seconds). A pair is as
selective as the phrase itself for two words, and for longer phrases the rows holding every pair
are the few whose tsvector is then read. Chosen over RUM (positions in the index; not packaged by
Debian for this PostgreSQL) and over a stripped tsvector (cheaper to read, but still one read per
candidate). Its cost is at insert: ~0.3 ms of server CPU per 400-word article to list the pairs.

Revision ID: 0012
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Immutable, as a generated column needs: the pairs of lexemes at adjacent positions.
PAIRS_FUNCTION = """
CREATE OR REPLACE FUNCTION newsbot_pairs(v tsvector) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT l || ' ' || nl), '{}') FROM (
    SELECT lexeme AS l, pos, lead(lexeme) OVER w AS nl, lead(pos) OVER w AS np
    FROM (SELECT lexeme, unnest(positions) AS pos FROM unnest(v)) x WINDOW w AS (ORDER BY pos)) y
  WHERE np = pos + 1
$$"""

POSTGRES_UP = [
    "CREATE TEXT SEARCH DICTIONARY newsbot_porter (TEMPLATE = snowball, Language = porter)",
    "CREATE TEXT SEARCH CONFIGURATION newsbot (COPY = english)",
    "ALTER TEXT SEARCH CONFIGURATION newsbot ALTER MAPPING FOR asciiword, word, hword_part, hword_asciipart"
    " WITH newsbot_porter",
    "ALTER TEXT SEARCH CONFIGURATION newsbot DROP MAPPING FOR hword, asciihword",
    PAIRS_FUNCTION,
    "DROP INDEX IF EXISTS ix_articles_tsv",
    "ALTER TABLE articles DROP COLUMN tsv",
    # A gap of one position between title and text (a placeholder lexeme, deleted again): tsvector
    # concatenation would make the title's last word and the text's first adjacent.
    """ALTER TABLE articles ADD COLUMN tsv tsvector GENERATED ALWAYS AS (ts_delete(
        setweight(to_tsvector('newsbot', coalesce(title, '')), 'A') || 'newsbotgap:1'::tsvector ||
        setweight(to_tsvector('newsbot', coalesce(text, '')), 'B'), 'newsbotgap')) STORED""",
    """ALTER TABLE articles ADD COLUMN tsv_pairs text[] GENERATED ALWAYS AS (
        newsbot_pairs(to_tsvector('newsbot', coalesce(title, ''))) ||
        newsbot_pairs(to_tsvector('newsbot', coalesce(text, '')))) STORED""",
    "CREATE INDEX ix_articles_tsv ON articles USING gin (tsv)",
    "CREATE INDEX ix_articles_tsv_pairs ON articles USING gin (tsv_pairs)",
]

POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_articles_tsv_pairs",
    "DROP INDEX IF EXISTS ix_articles_tsv",
    "ALTER TABLE articles DROP COLUMN IF EXISTS tsv_pairs",
    "ALTER TABLE articles DROP COLUMN IF EXISTS tsv",
    """ALTER TABLE articles ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(text, '')), 'B')) STORED""",
    "CREATE INDEX ix_articles_tsv ON articles USING gin (tsv)",
    "DROP FUNCTION IF EXISTS newsbot_pairs(tsvector)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS newsbot",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS newsbot_porter",
]


def upgrade() -> None:
    op.create_table("story_band_locks", sa.Column("key", sa.BigInteger(), autoincrement=False, primary_key=True))
    if op.get_bind().dialect.name != "sqlite":
        for sql in POSTGRES_UP:
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for sql in POSTGRES_DOWN:
            op.execute(sql)
    op.drop_table("story_band_locks")
