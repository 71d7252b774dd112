"""Article preparation, the one way for every source: clean → date → topics.

Seeds, feed entries, fetched pages and `newsbot extract` all go through `prepare`, so an article
reads, dates and tags the same whichever way it arrived (and its content hash matches).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.text.clean import clean_text
from bot.text.dates import start_of_day
from bot.text.topics import tag_topics


@dataclass(frozen=True)
class Prepared:
    title: str | None
    text: str
    published_at: datetime | None  # None: undated (the archive uses the first-seen time)
    published_inferred: bool  # the date was read from the words, not given by the source
    topics: tuple[str, ...]


def article_topics(
    title: str | None, text: str, topic_keywords: Mapping[str, Iterable[str]], extra: Iterable[str] = ()
) -> tuple[str, ...]:
    """The topics an article's title and text mention, plus `extra` (its feed's own), sorted."""
    return tuple(tag_topics(f"{title or ''}\n{text}", topic_keywords, extra))


def prepare(
    raw: str,
    topic_keywords: Mapping[str, Iterable[str]],
    *,
    title: str | None = None,
    take_title: bool = True,
    published: datetime | None = None,
) -> Prepared:
    """Clean `raw` (plain text or HTML); date it from its words only when `published` is None."""
    doc = clean_text(raw, title=title, take_title=take_title, infer_date=published is None)
    inferred = False
    if published is None and doc.published is not None:
        published, inferred = start_of_day(doc.published), True
    return Prepared(
        title=doc.title,
        text=doc.text,
        published_at=published,
        published_inferred=inferred,
        topics=article_topics(doc.title, doc.text, topic_keywords),
    )
