"""Pure parsing pieces: canonical URLs, GUID scoping, discovery, JSON Feed, schedule policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bot.ingest.parse import discover_feeds, parse_feed, stable_guid
from bot.ingest.schedule import adaptive_interval, failure_wait_s, next_check_after_failure
from bot.text.urls import canonical_url


def test_canonical_url() -> None:
    assert (
        canonical_url("HTTPS://News.Example.COM:443/a//b?utm_source=x&id=7&fbclid=abc&gclid=1&UTM_Campaign=y#top")
        == "https://news.example.com/a/b?id=7"
    )
    assert canonical_url("/story/1?ref=home", "http://site.example/feed") == "http://site.example/story/1?ref=home"
    assert canonical_url("http://site.example:8080/x") == "http://site.example:8080/x"
    for bad in ("javascript:alert(1)", "mailto:a@b.c", "", "http://"):
        assert canonical_url(bad) is None


def test_guid_scoping() -> None:
    assert stable_guid("https://x.example/1", "https://feeds.example/rss") == "https://x.example/1"
    assert stable_guid("tag:x.example,2025:1", "https://feeds.example/rss") == "tag:x.example,2025:1"
    assert stable_guid("1234", "https://feeds.example/rss") == "feeds.example:1234"
    assert stable_guid(None, "https://feeds.example/rss") is None


def test_discovery_and_not_a_feed() -> None:
    page = b"""<html><head><link rel="alternate" type="application/atom+xml" href="/atom.xml">
    <link rel="stylesheet" href="/s.css"><link rel="alternate" type="application/rss+xml" href="https://x.example/rss?utm_source=a">
    </head><body>hi</body></html>"""
    assert discover_feeds(page, "https://x.example/news/") == ["https://x.example/atom.xml", "https://x.example/rss"]
    parsed = parse_feed(page, "https://x.example/news/", "text/html")
    assert parsed.error == "not a feed (HTML page; feed advertised at https://x.example/atom.xml)"
    assert parse_feed(b"", "https://x.example/", "").error == "empty response"
    assert parse_feed(b'{"a": 1}', "https://x.example/", "application/json").error.startswith("not a feed (JSON but")  # type: ignore[union-attr]
    deep = b"[" * 100_000 + b"]" * 100_000
    assert parse_feed(deep, "https://x.example/", "application/json").error is not None


def test_json_feed() -> None:
    body = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "JF", "home_page_url": "https://jf.example/",
      "items": [{"id": 7, "url": "https://jf.example/7?utm_medium=x", "title": "Seven",
                 "content_text": "NATO allies agreed on a new package of aid for Ukraine on Tuesday in Brussels.",
                 "date_published": "2025-05-01T10:00:00+02:00", "authors": [{"name": "A. Writer"}]},
                {"id": "8", "summary": "<p>Only a summary about talks</p>", "title": "Eight"},
                "junk", {"title": null}]}"""
    parsed = parse_feed(body, "https://jf.example/feed.json", "application/feed+json", {"nato": ["NATO"]})
    assert parsed.error is None and parsed.kind == "json" and parsed.title == "JF"
    seven, eight = parsed.entries
    assert seven.guid == "jf.example:7" and seven.url == "https://jf.example/7"
    assert seven.published_at == datetime(2025, 5, 1, 8, 0, tzinfo=UTC) and seven.author == "A. Writer"
    assert seven.topics == ("nato",) and not seven.summary_only
    assert eight.summary_only and eight.text == "Only a summary about talks" and eight.url is None


def test_schedule_policy() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    every_10_min = [now - timedelta(minutes=10 * i) for i in range(10)]
    assert adaptive_interval(900, every_10_min, 0, 60, 3600) == 300
    assert adaptive_interval(900, every_10_min, 0, 600, 3600) == 600  # never below the minimum
    assert adaptive_interval(900, [], 0, 60, 3600) == 1350  # quiet: back off gently
    assert adaptive_interval(900, [], 3, 60, 3600) == 450  # new items without dates: poll sooner
    assert adaptive_interval(3000, [], 0, 60, 3600) == 3600  # never above the maximum
    rng = random.Random(1)
    delays = [failure_wait_s(n, 60, 3600, rng) for n in (1, 2, 3, 4, 10)]
    assert 30 <= delays[0] <= 60 and 60 <= delays[1] <= 120 and 120 <= delays[2] <= 240 and 240 <= delays[3] <= 480
    assert 1800 <= delays[4] <= 3600
    assert next_check_after_failure(1, 7200, 60, 3600, rng) == 7200  # Retry-After wins when longer


def test_a_character_no_encoding_can_hold_costs_one_character_not_the_feed() -> None:
    """A lone UTF-16 surrogate (escaped in JSON, or a character reference in XML) or a reference
    past U+10FFFF cannot be hashed or stored; it becomes U+FFFD and every entry is kept."""
    words = "Allies agreed on a new package of aid for Ukraine on Tuesday in Brussels."
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "JF \\ud800", "items": ['
        '{"id": "1", "url": "https://jf.example/1", "title": "Half \\udc00 a pair", "content_text": "' + words + ' \\ud83d"},'
        '{"id": "2", "url": "https://jf.example/2", "title": "Whole \\ud83d\\ude00 pair", "content_text": "' + words + '"}]}'
    ).encode()
    parsed = parse_feed(body, "https://jf.example/feed.json", "application/feed+json")
    assert parsed.error is None and [e.title for e in parsed.entries] == ["Half \ufffd a pair", "Whole \U0001f600 pair"]
    assert parsed.entries[0].text.endswith("\ufffd") and parsed.entries[0].digest
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>R</title>'
        '<item><title>A &#xD800; b &#55296; c &#x110000; d &#8217; e</title><link>https://r.example/1</link>'
        f"<description>{words}</description></item>"
        f"<item><title>Second</title><link>https://r.example/2</link><description>{words}</description></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(rss, "https://r.example/feed.xml", "application/rss+xml")
    assert parsed.error is None and [e.title for e in parsed.entries] == ["A \ufffd b \ufffd c \ufffd d \u2019 e", "Second"]


def test_html_in_a_feed_is_read_as_html_whatever_tag_it_starts_with() -> None:
    items = "".join(
        f"<item><title>T{i}</title><link>https://h.example/{i}</link><description><![CDATA[{markup}]]></description></item>"
        for i, markup in enumerate(
            (
                "<ul><li>Allies agreed on aid</li><li>Ministers met in Brussels</li></ul>",
                "<hr/>Allies agreed on aid<hr/>Ministers met in Brussels",
                "<table><tr><td>Allies agreed on aid</td></tr><tr><td>Ministers met in Brussels</td></tr></table>",
                "<strong>Allies</strong> agreed on aid<br>Ministers met in Brussels",
            )
        )
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>H</title>{items}</channel></rss>'.encode()
    parsed = parse_feed(body, "https://h.example/feed.xml", "application/rss+xml")
    assert parsed.error is None and len(parsed.entries) == 4
    for e in parsed.entries:
        assert "<" not in e.text and "Allies" in e.text and "Brussels" in e.text, e.text


def test_relative_links_resolve_against_the_document_or_its_xml_base() -> None:
    """Links are made absolute against the feed's address, or per element where xml:base says so."""
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://site.example/</link>
    <item><title>Root-relative</title><link>/news/1</link><description>Body one.</description></item>
    <item><title>Path-relative</title><link>news/2</link><description>Body two.</description></item>
    <item><title>Guid only</title><guid>story/3</guid><description>Body three.</description></item>
    <item><title>Scripted</title><link>javascript:alert(1)</link><guid isPermaLink="false">s-4</guid>
      <description>Body four.</description></item>
    </channel></rss>"""
    got = parse_feed(rss, "https://feeds.example/world/rss.xml", "application/rss+xml")
    assert got.error is None
    by_title = {e.title: e for e in got.entries}
    assert by_title["Root-relative"].url == "https://feeds.example/news/1"
    assert by_title["Path-relative"].url == "https://feeds.example/world/news/2"
    assert by_title["Guid only"].url == "https://feeds.example/world/story/3"
    assert by_title["Guid only"].guid == "https://feeds.example/world/story/3"
    assert by_title["Scripted"].url is None and by_title["Scripted"].guid == "feeds.example:s-4"

    atom = b"""<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example/blog/"><title>A</title>
    <id>urn:a</id><updated>2025-03-01T00:00:00Z</updated>
    <entry><title>Under the feed's base</title><id>urn:a:1</id><link href="posts/1"/>
      <updated>2025-03-01T00:00:00Z</updated><content type="html">&lt;p&gt;One.&lt;/p&gt;</content></entry>
    <entry xml:base="/archive/"><title>Under its own base</title><id>urn:a:2</id><link href="2"/>
      <updated>2025-03-01T00:00:00Z</updated><content type="html">&lt;p&gt;Two.&lt;/p&gt;</content></entry>
    </feed>"""
    got = parse_feed(atom, "https://feeds.example/a.xml", "application/atom+xml")
    assert [e.url for e in got.entries] == ["https://base.example/blog/posts/1", "https://base.example/archive/2"]

    relative_base = atom.replace(b'xml:base="https://base.example/blog/"', b'xml:base="blog/"')
    got = parse_feed(relative_base, "https://feeds.example/a.xml", "application/atom+xml")
    assert [e.url for e in got.entries] == ["https://feeds.example/blog/posts/1", "https://feeds.example/archive/2"]
