"""What happens to an article after it is stored: statement extraction, dedup and the alert outbox.

Kept in one place so that seeds, feed entries and full-text pages all get the same treatment in
the same transaction as the article itself.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive import Stored
from bot.config import AppConfig
from bot.statement_store import record_statements


async def after_store(session: AsyncSession, stored: Stored, config: AppConfig, *, alerts: bool = True) -> int:
    """Run extraction on a new or changed article; returns how many new statements it stored.

    `alerts=False` is for backfill (a feed's first fetch, seeds): statements are stored but no
    channel is flooded with alerts for old news.
    """
    if not stored.changed_text:
        return 0
    return await record_statements(session, stored.article, config, alerts=alerts, fresh=stored.outcome == "new")
