"""Loading the seed articles through the same cleaning path feeds take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.archive.articles import ArticleIn, store_article
from bot.archive.hooks import after_store
from bot.config import AppConfig
from bot.text.prepare import prepare


@dataclass
class SeedCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    statements: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def seed_item(path: Path, config: AppConfig) -> ArticleIn:
    doc = prepare(path.read_text(encoding="utf-8", errors="replace"), config.topic_keywords())
    return ArticleIn(
        text=doc.text,
        title=doc.title,
        guid=f"seed:{path.stem}",
        published_at=doc.published_at,
        published_inferred=doc.published_inferred,
        topics=doc.topics,
        origin="seed",
    )


def seed_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*") if p.suffix.lower() in (".txt", ".html", ".htm", ".md"))


async def load_seeds(sessions: async_sessionmaker[AsyncSession], directory: Path, config: AppConfig) -> SeedCounts:
    """Idempotent: a seed already stored unchanged is left alone."""
    counts = SeedCounts()
    for path in seed_files(directory):
        async with sessions.begin() as session:
            stored = await store_article(session, seed_item(path, config))
            setattr(counts, stored.outcome, getattr(counts, stored.outcome) + 1)
            counts.statements += await after_store(session, stored, config)
    return counts
