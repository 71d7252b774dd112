"""What happens to an article after it is stored: statement extraction, dedup and the alert outbox.

Kept in one place so that seeds, feed entries and full-text pages all get the same treatment in
the same transaction as the article itself.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.archive import Stored
from bot.config import AppConfig


async def after_store(session: AsyncSession, stored: Stored, config: AppConfig, *, alerts: bool = True) -> int:
    """Run extraction on a new or changed article; returns how many new statements it stored."""
    if not stored.changed_text:
        return 0
    try:
        from bot.statement_store import record_statements
    except ImportError:  # statements are wired in by the statements issue
        return 0
    return await record_statements(session, stored.article, config, alerts=alerts)
