"""What happens to an article after it is stored: statement extraction, dedup and the alert outbox.

Kept in one place so that seeds, feed entries and full-text pages all get the same treatment in
the same transaction as the article itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive import ArticleIn, Stored, store_articles
from bot.config import AppConfig
from bot.statement_store import Plan, ToRecord, load_known, plan_statements, prepare, record_many, write_plan
from bot.statements import Statement as Found


async def after_store(session: AsyncSession, stored: Stored, config: AppConfig, *, alerts: bool = True) -> int:
    """Run extraction on a new or changed article; returns how many new statements it stored.

    `alerts=False` is for backfill (a feed's first fetch, seeds): statements are stored but no
    channel is flooded with alerts for old news.
    """
    return (await after_store_many(session, [(stored, alerts)], config))[0]


async def after_store_many(
    session: AsyncSession,
    batch: Sequence[tuple[Stored, bool]],
    config: AppConfig,
    found: Sequence[list[Found] | None] | None = None,
) -> list[int]:
    """`after_store` for a whole ingest write, (stored, alerts) pairs in order: one batched pass.

    `found`: statements already extracted from each item's text (by the parse workers), or None
    per item to extract here; used only where the item's text is what was stored.
    """
    found = found if found is not None else [None] * len(batch)
    todo = [
        (n, ToRecord(s.article, alerts=alerts, fresh=s.outcome == "new", found=f))
        for n, ((s, alerts), f) in enumerate(zip(batch, found, strict=True))
        if s.changed_text
    ]
    out = [0] * len(batch)
    if todo:
        for (n, _), new in zip(todo, await record_many(session, [t for _, t in todo], config), strict=True):
            out[n] = new
    return out


async def store_with_statements(
    session: AsyncSession,
    items: Sequence[ArticleIn],
    alerts: Sequence[bool],
    config: AppConfig,
    found: Sequence[list[Found] | None],
) -> tuple[list[Stored], list[int]]:
    """`store_articles` (stories on) then `after_store_many`, with the statements matched while
    the database inserts the articles rather than after: matching needs no article id, and the
    two took about the same time one after the other on the ingest writer's path.

    `found`: each item's statements, extracted by the parse workers; with any missing, the two
    steps simply run in turn. Returns the outcomes and, per item, how many statements are new.
    """
    if any(f is None for f in found):
        stored = await store_articles(session, items, stories=True)
        return stored, await after_store_many(session, list(zip(stored, alerts, strict=True)), config, found)
    prepared = prepare([list(f or ()) for f in found])
    known = await load_known(session, prepared)  # before the insert: the session does one thing at a time
    plans: list[Plan] = []

    def match(outcomes: list[Stored]) -> None:
        plans.append(plan_statements(prepared, known, only=[s.changed_text for s in outcomes]))

    stored = await store_articles(session, items, stories=True, alongside=match)
    todo = [n for n, s in enumerate(stored) if s.changed_text]
    at = {n: i for i, n in enumerate(todo)}  # the plan counts every item; the write only the recorded ones
    plan = plans[0]
    plan.links = [(k, item, at[n]) for k, item, n in plan.links]
    plan.first_of = {key: (item, at[n]) for key, (item, n) in plan.first_of.items()}
    batch = [ToRecord(stored[n].article, alerts=alerts[n], fresh=stored[n].outcome == "new") for n in todo]
    out = [0] * len(items)
    for n, new in zip(todo, await write_plan(session, batch, plan), strict=True):
        out[n] = new
    return stored, out
