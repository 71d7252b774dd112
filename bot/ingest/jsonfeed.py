"""JSON Feed 1.0/1.1 (https://jsonfeed.org), read with `json`, not feedparser (which does not know it)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from dateutil import parser as dateparser

from bot.ingest.rawentry import RawEntry, RawFeed


class NotJsonFeed(ValueError):
    """The body is JSON but not a JSON Feed, or not JSON at all."""


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        dt = dateparser.isoparse(value.strip())
    except (ValueError, OverflowError):
        try:
            dt = dateparser.parse(value.strip())
        except (ValueError, OverflowError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        # JSON may escape a lone UTF-16 surrogate ("\\ud800"); no database or hash can encode it,
        # and one such character must not cost the feed its other entries.
        return _SURROGATE.sub("\ufffd", value).strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    if isinstance(authors, list):
        names = [_str(a.get("name")) for a in authors if isinstance(a, dict)]
        joined = ", ".join(n for n in names if n)
        if joined:
            return joined
    author = item.get("author")
    return _str(author.get("name")) if isinstance(author, dict) else None


def parse_json_feed(body: bytes, max_entries: int) -> RawFeed:
    try:
        data = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise NotJsonFeed(f"malformed JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise NotJsonFeed("JSON but not a JSON Feed (no jsonfeed.org version)")
    items = data.get("items")
    if not isinstance(items, list):
        raise NotJsonFeed("JSON Feed without an items list")
    entries: list[RawEntry] = []
    for item in items[:max_entries]:
        if not isinstance(item, dict):
            continue
        html = _str(item.get("content_html"))
        text = _str(item.get("content_text"))
        summary = _str(item.get("summary"))
        body_html = html or (text and _text_as_html(text)) or summary or ""
        entries.append(
            RawEntry(
                guid=_str(item.get("id")),
                link=_str(item.get("url")) or _str(item.get("external_url")),
                title=_str(item.get("title")),
                html=body_html,
                summary_only=not (html or text),
                published=_date(item.get("date_published")) or _date(item.get("date_modified")),
                author=_author(item),
            )
        )
    return RawFeed(
        kind="json",
        title=_str(data.get("title")),
        link=_str(data.get("home_page_url")),
        entries=entries,
    )


def _text_as_html(text: str) -> str:
    """Plain content_text kept as paragraphs for the one cleaner (which reads HTML or text)."""
    return text
