"""A news page's main text and metadata, with the libraries made for it.

trafilatura finds the story among navigation, ads, comments and "related" lists and reads the
metadata (`<meta>` tags, JSON-LD `NewsArticle`: headline, author, datePublished, publisher);
htmldate reads the publication date when trafilatura has none. The text then goes through the one
cleaner (`bot.text.clean.clean_text`), so pages lose the same furniture lines seeds and feed
HTML lose. `extract_page` is pure and CPU-bound (a few ms a page): callers run it off the event
loop.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.text.clean import CleanDoc, clean_text
from bot.text.dates import start_of_day
from bot.text.teaser import judge_page

if TYPE_CHECKING:
    from bot.config import AppConfig, Settings

log = logging.getLogger(__name__)

HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")


class PageError(Exception):
    """The page could not be fetched or holds no story; the message says why, in one line."""


@dataclass(frozen=True)
class PageDoc:
    """What a page says about itself. `raw_text` is the extractor's text before cleaning."""

    url: str
    text: str
    raw_text: str
    title: str | None = None
    author: str | None = None
    published: date | None = None
    outlet: str | None = None
    published_from_page: bool = False

    def published_at(self) -> datetime | None:
        if self.published is None:
            return None
        return start_of_day(self.published)

    def as_clean_doc(self) -> CleanDoc:
        return CleanDoc(title=self.title, text=self.text, published=self.published, published_inferred=False)


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _drop_leading_title(text: str, title: str | None) -> str:
    """The headline is stored as the title; the body should not start with it again."""
    if not title:
        return text
    first, _, rest = text.partition("\n\n")
    norm = re.sub(r"\W+", " ", first).strip().casefold()
    return rest if norm and norm == re.sub(r"\W+", " ", title).strip().casefold() else text


def _author(value: str | None) -> str | None:
    if not value:
        return None
    value = re.sub(r"^\s*by\s+", "", value, flags=re.IGNORECASE).strip()
    return value[:500] or None


def extract_page(page: bytes | str, url: str) -> PageDoc | None:
    """Main text and metadata of one HTML page; None when the extractor finds no text at all."""
    import htmldate
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            page,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            deduplicate=False,
        )
    except Exception as exc:  # trafilatura raises assorted errors on hostile markup
        log.info("trafilatura failed on %s: %s", url, exc)
        return None
    if doc is None:
        return None
    raw = (getattr(doc, "text", None) or "").strip()
    if not raw:
        return None
    title = (getattr(doc, "title", None) or "").strip() or None
    published = _date(getattr(doc, "date", None))
    if published is None:
        try:
            published = _date(htmldate.find_date(page, url=url, extensive_search=False, original_date=True))
        except Exception as exc:
            log.debug("htmldate failed on %s: %s", url, exc)
    cleaned = clean_text(raw, title=title, take_title=False)
    return PageDoc(
        url=url,
        text=_drop_leading_title(cleaned.text, title),
        raw_text=raw,
        title=title,
        author=_author(getattr(doc, "author", None)),
        published=published,
        outlet=((getattr(doc, "sitename", None) or "").strip() or None),
        published_from_page=published is not None,
    )


def user_agent(config: AppConfig) -> str:
    """The configured User-Agent, with `fulltext.contact_url` added when it carries no URL of its own."""
    ua = config.ingest.user_agent
    contact = config.fulltext.contact_url
    if contact and "http" not in ua:
        ua = f"{ua} (+{contact})"
    return ua


async def fetch_and_extract(url: str, settings: Settings, config: AppConfig) -> CleanDoc:
    """One page through the safe fetcher and the extractor, for `newsbot extract URL`.

    A one-off fetch a person asked for: robots.txt and the queue's rate limits are for the
    background crawler and are not consulted here. Raises PageError with the reason.
    """
    import asyncio

    from bot.net.fetch import SafeFetcher

    limits = config.ingest
    fetcher = SafeFetcher(
        user_agent=user_agent(config),
        timeout_s=limits.timeout_s,
        max_body_bytes=limits.max_body_bytes,
        per_host_concurrency=limits.per_host_concurrency,
        allow_private=settings.allow_private_feeds,
    )
    try:
        res = await fetcher.get(url, accept=HTML_ACCEPT)
    finally:
        await fetcher.aclose()
    if res.error:
        raise PageError(f"{url}: {res.error}")
    if res.content_type not in HTML_TYPES:
        raise PageError(f"{url}: not an HTML page ({res.content_type})")
    page = await asyncio.to_thread(extract_page, res.body, res.url)
    if page is None:
        raise PageError(f"{url}: no article text found")
    reason = judge_page(page.raw_text, page.text)
    if reason:
        raise PageError(f"{url}: {reason}")
    return page.as_clean_doc()
