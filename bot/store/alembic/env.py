"""Alembic environment: runs migrations on the connection `bot.store.migrate` hands it.

Run from the command line (`alembic -c bot/store/alembic.ini …`) it opens its own async engine
from NEWSBOT_DATABASE_URL, so autogenerate works against a scratch database.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from bot.store.db import make_engine
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


# Search structures are made by hand in 0002 and are not in the models: keep autogenerate off them.
SEARCH_OBJECTS = {"articles_fts", "article_days", "tsv", "topic_list", "ix_articles_tsv", "ix_articles_topic_list",
                  "tsv_pairs", "ix_articles_tsv_pairs"}


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (name in SEARCH_OBJECTS or (name or "").startswith("articles_fts"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(os.environ.get("NEWSBOT_DATABASE_URL", "sqlite:///data/newsbot.db"))
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
