"""What happens to an article after it is stored: statement extraction, dedup, the alert outbox and
the streams (new articles posted to the channels that follow their feed or topic).

Kept in one place so that seeds, feed entries and full-text pages all get the same treatment in
the same transaction as the article itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive.articles import Stored
from bot.archive.statement_store import Matched, ToRecord, record_many
from bot.archive.streams import queue_streams
from bot.config import AppConfig
from bot.statements.model import Statement as Found


async def after_store(session: AsyncSession, stored: Stored, config: AppConfig, *, alerts: bool = True) -> int:
    """Run extraction on a new or changed article; returns how many new statements it stored.

    `alerts=False` is for backfill (a feed's first fetch, seeds): statements are stored but no
    channel is flooded with alerts (or streamed articles) for old news.
    """
    return (await after_store_many(session, [(stored, alerts)], config))[0]


async def after_store_many(
    session: AsyncSession,
    batch: Sequence[tuple[Stored, bool]],
    config: AppConfig,
    found: Sequence[list[Found] | None] | None = None,
    ahead: Matched | None = None,
) -> list[int]:
    """`after_store` for a whole ingest write, (stored, alerts) pairs in order: one batched pass.

    `found`: statements already extracted from each item's text (by the parse workers), or None
    per item to extract here; used only where the item's text is what was stored. `ahead`: those
    statements matched before the transaction (`statement_store.match_ahead`).
    """
    found = found if found is not None else [None] * len(batch)
    todo = [
        (n, ToRecord(s.article, alerts=alerts, fresh=s.outcome == "new", found=f))
        for n, ((s, alerts), f) in enumerate(zip(batch, found, strict=True))
        if s.changed_text
    ]
    out = [0] * len(batch)
    # Streams first: the statements come last, as the statement locks they take are held until commit.
    await queue_streams(session, [s.article for s, alerts in batch if alerts and s.outcome == "new"])
    if todo:
        for (n, _), new in zip(todo, await record_many(session, [t for _, t in todo], config, ahead), strict=True):
            out[n] = new
    return out
