"""What a feed says before cleaning: the common shape of RSS/Atom/RDF (feedparser) and JSON Feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class RawEntry:
    guid: str | None
    link: str | None
    title: str | None
    html: str  # content (or summary) as the feed gives it: HTML or plain text
    summary_only: bool
    published: datetime | None
    author: str | None = None


@dataclass
class RawFeed:
    kind: str  # rss | atom | rdf | json
    title: str | None
    link: str | None
    entries: list[RawEntry] = field(default_factory=list)
