"""Feed bytes to ready-to-store entries: detection, parsing, cleaning, tagging, signatures.

A pure function of (bytes, URL, content type, topic rules), so it runs in a worker process (or
thread) off the event loop: feedparser is pure Python and is the cost centre of a poll cycle.
Detection order: JSON Feed by shape; XML that declares entities is refused (no entity expansion,
no external entities, ever); an HTML page is "not a feed" and its advertised feeds are reported;
everything else goes to feedparser (RSS 0.9x/2.0, RSS 1.0/RDF, Atom; encodings from the prolog).
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from bot.ingest.jsonfeed import NotJsonFeed, parse_json_feed
from bot.ingest.rawentry import RawEntry, RawFeed
from bot.text.clean import html_to_text
from bot.text.content_hash import content_hash
from bot.text.minhash import band_keys, signature
from bot.text.prepare import prepare
from bot.text.teaser import needs_full_text
from bot.text.urls import canonical_url, host_of

if TYPE_CHECKING:
    from bot.statements import Statement
    from bot.statements.figures import Figure

MAX_ENTRIES = 500  # a feed with more is either an archive dump or an attack; the newest are first
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
# A character reference to a UTF-16 surrogate (U+D800-U+DFFF) or past U+10FFFF names no character;
# feedparser's fallback parser raises on it, which would fail the whole feed for one entry.
_BAD_CHARREF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")


def _charref_or_replacement(m: re.Match[bytes]) -> bytes:
    value = int(m[1], 16) if m[1] else int(m[2])
    return b"&#xFFFD;" if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF else m[0]
_FEED_ROOT = re.compile(rb"<(?:[\w-]+:)?(rss|feed|RDF|channel)[\s>]", re.IGNORECASE)
_HTML_ROOT = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_GLOBAL_ID = re.compile(r"^(https?://|urn:|tag:)", re.IGNORECASE)


@dataclass
class Entry:
    """One article as the archive will store it (minus feed-level facts the pipeline adds)."""

    guid: str | None
    url: str | None
    title: str | None
    text: str
    published_at: datetime | None  # None: the pipeline uses the first-seen time
    published_inferred: bool
    author: str | None
    summary_only: bool
    topics: tuple[str, ...]
    signature: bytes | None
    bands: tuple[int, ...] = ()  # the signature's LSH band keys, computed here beside it
    digest: str = ""  # content_hash(title, text), computed here so the writer does not
    statements: list[Statement] | None = None  # extracted here when the figures were given
    looks_summary: bool | None = None  # needs_full_text(text, "auto"), computed here beside the rest


@dataclass
class ParsedFeed:
    kind: str | None = None
    title: str | None = None
    link: str | None = None
    entries: list[Entry] = field(default_factory=list)
    error: str | None = None  # one line: why nothing could be read
    advertised: list[str] = field(default_factory=list)  # feeds an HTML page links to
    skipped: int = 0  # entries without text, link or id


def discover_feeds(markup: str | bytes, base_url: str) -> list[str]:
    """`<link rel="alternate">` feeds an HTML page advertises, absolute, in page order."""
    from selectolax.lexbor import LexborHTMLParser

    if isinstance(markup, bytes):
        markup = markup.decode("utf-8", errors="replace")
    tree = LexborHTMLParser(markup[:2_000_000])
    found: list[str] = []
    for node in tree.css("link[href]"):
        rel = (node.attributes.get("rel") or "").lower().split()
        typ = (node.attributes.get("type") or "").lower().split(";")[0].strip()
        href = node.attributes.get("href") or ""
        if "alternate" in rel and typ in FEED_TYPES and typ not in ("application/xml", "text/xml", "application/json"):
            url = canonical_url(href, base_url)
            if url and url not in found:
                found.append(url)
    return found


def _head(body: bytes, n: int = 4096) -> bytes:
    return body[:n].lstrip(b"\xef\xbb\xbf \t\r\n")


def _is_json(body: bytes, content_type: str) -> bool:
    return _head(body, 64).startswith((b"{", b"[")) or "json" in content_type


def _is_html(body: bytes, content_type: str) -> bool:
    head = _head(body, 4096)
    if _FEED_ROOT.search(head):
        return False
    return content_type in ("text/html", "application/xhtml+xml") or bool(_HTML_ROOT.search(head))


def _struct_to_dt(value: Any) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _absolute(ref: str, url: str) -> str:
    """`ref` resolved against the document's address, as feedparser resolves a link."""
    return ref if not ref or _HAS_SCHEME.match(ref) else urljoin(url, ref)


def _feedparser(body: bytes, url: str, content_type: str) -> RawFeed | str:
    import feedparser

    headers = {"content-type": content_type or "application/xml"}
    # Given the document's address, feedparser re-joins its base URI with every element it opens
    # (a quarter of its parsing time on typical feeds) to resolve the odd relative link. So it
    # gets the address only where an xml:base attribute makes the base vary by element, which it
    # alone tracks; elsewhere the few relative links are resolved below, against the same address.
    by_element = b"xml:base" in body
    if by_element:
        headers["content-location"] = url
    parsed = feedparser.parse(
        body,
        response_headers=headers,
        sanitize_html=False,  # our cleaner turns markup into text; feedparser's sanitiser is slow
        # Links inside content are never kept (the cleaner keeps text), and entry links are made
        # absolute by canonical_url; feedparser rewriting every href costs ~20% of its time.
        resolve_relative_uris=False,
    )
    version = parsed.get("version") or ""
    if not parsed.entries and not version:
        exc = parsed.get("bozo_exception")
        why = str(exc).splitlines()[0][:160] if exc else "no RSS, Atom or RDF root element"
        return f"malformed feed: {why}"
    kind = "atom" if version.startswith("atom") else "rdf" if version.startswith("rss09") or version == "rss10" else "rss"
    entries: list[RawEntry] = []
    for e in parsed.entries[:MAX_ENTRIES]:
        contents = [c.get("value", "") for c in (e.get("content") or []) if c.get("value")]
        content = max(contents, key=len) if contents else ""
        summary = e.get("summary") or ""
        guid, link = (e.get("id") or "").strip(), (e.get("link") or "").strip()
        if not by_element:
            link = _absolute(link, url)
            guid = _absolute(guid, url) if e.get("guidislink") else guid  # a permalink <guid> is a link
        entries.append(
            RawEntry(
                guid=guid or None,
                link=link or None,
                title=(e.get("title") or "").strip() or None,
                html=content or summary,
                summary_only=not content,
                published=_struct_to_dt(e.get("published_parsed"))
                or _struct_to_dt(e.get("updated_parsed"))
                or _struct_to_dt(e.get("created_parsed")),
                author=(e.get("author") or "").strip()[:500] or None,
            )
        )
    feed = parsed.get("feed", {})
    return RawFeed(kind=kind, title=(feed.get("title") or "").strip() or None, link=feed.get("link"), entries=entries)


def read_feed(body: bytes, url: str, content_type: str = "") -> RawFeed | ParsedFeed:
    """Detect the format and read it; a ParsedFeed carrying `error` when it is not a usable feed."""
    content_type = content_type.split(";")[0].strip().lower()
    if not body.strip():
        return ParsedFeed(error="empty response")
    if _is_json(body, content_type):
        try:
            return parse_json_feed(body, MAX_ENTRIES)
        except NotJsonFeed as exc:
            return ParsedFeed(error=f"not a feed ({exc})")
    if _ENTITY_DECL.search(body[:1_000_000]):
        return ParsedFeed(error="refused: XML entity declarations (entity expansion is never followed)")
    if _is_html(body, content_type):
        advertised = discover_feeds(body, url)
        where = f"feed advertised at {advertised[0]}" if advertised else "no feed advertised"
        return ParsedFeed(kind="html", error=f"not a feed (HTML page; {where})", advertised=advertised)
    if b"&#" in body:
        body = _BAD_CHARREF.sub(_charref_or_replacement, body)
    got = _feedparser(body, url, content_type)
    if isinstance(got, str):
        return ParsedFeed(error=got)
    return got


def stable_guid(guid: str | None, feed_url: str) -> str | None:
    """GUIDs that are URLs, URNs or tag: URIs are global; others ("1234") are only unique per site."""
    if not guid:
        return None
    guid = guid.strip()[:1500]
    if _GLOBAL_ID.match(guid):
        return guid
    return f"{host_of(feed_url)}:{guid}"


def _title_text(title: str | None) -> str | None:
    if not title:
        return None
    if "<" in title and ">" in title:
        title = html_to_text(title)
    title = " ".join(title.split())  # = re.sub(r"\s+", " ", title).strip(), cheaper
    return title[:1000] or None


def prepare_entry(
    raw: RawEntry, feed_url: str, base: str, topic_keywords: dict[str, list[str]], now: datetime
) -> Entry | None:
    title = _title_text(raw.title)
    published = raw.published
    if published is not None and published > now + timedelta(days=2):
        published = None  # a date in the future is a publisher's bug; do not let it pin the top
    doc = prepare(raw.html or "", topic_keywords, title=title, take_title=False, published=published)
    text = doc.text
    url = canonical_url(raw.link, base) if raw.link else None
    guid = stable_guid(raw.guid, feed_url) or url
    if not text and not title:
        return None
    if not guid and not url:
        return None
    sig = signature(title, text)
    return Entry(
        guid=guid,
        url=url,
        title=title,
        text=text,
        published_at=doc.published_at,
        published_inferred=doc.published_inferred,
        author=raw.author,
        summary_only=raw.summary_only,
        topics=doc.topics,
        signature=sig,
        bands=tuple(band_keys(sig)) if sig else (),
        digest=content_hash(title, text),
        looks_summary=needs_full_text(text, "auto"),
    )


def _extract_statements(entries: list[Entry], figures: tuple[Figure, ...], now: datetime) -> None:
    """Statements of each entry, off the event loop like the rest of parsing (the writer would
    otherwise spend most of its time here); the same call and dates the archive would use."""
    from bot.statements import Gazetteer, extract_with

    gazetteer = Gazetteer.build(figures)
    for e in entries:
        day = (e.published_at or now).date()
        e.statements = [f for f in extract_with(e.text, gazetteer, day) if f.text.strip()]


def parse_feed(
    body: bytes,
    url: str,
    content_type: str = "",
    topic_keywords: dict[str, list[str]] | None = None,
    figures: tuple[Figure, ...] | None = None,
) -> ParsedFeed:
    """Bytes from `url` to entries ready for the archive; errors are values, never exceptions.

    With `figures`, each entry's statements are extracted too.
    """
    try:
        got = read_feed(body, url, content_type)
        if isinstance(got, ParsedFeed):
            return got
        base = urljoin(url, got.link) if got.link else url
        now = datetime.now(UTC)
        out = ParsedFeed(kind=got.kind, title=got.title, link=canonical_url(got.link, url) if got.link else None)
        seen: set[str] = set()
        for raw in got.entries:
            entry = prepare_entry(raw, url, base, topic_keywords or {}, now)
            if entry is None:
                out.skipped += 1
                continue
            key = entry.guid or entry.url or ""
            if key in seen:  # the same GUID twice in one document: the first (newest) wins
                out.skipped += 1
                continue
            seen.add(key)
            out.entries.append(entry)
        if figures is not None:
            _extract_statements(out.entries, figures, now)
        return out
    except Exception as exc:  # a parser bug on hostile input must not take the worker down
        return ParsedFeed(error=f"parse error: {type(exc).__name__}: {str(exc)[:160]}")
