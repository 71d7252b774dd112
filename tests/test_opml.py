"""OPML in and out: folders become topics, hostile XML is refused, export re-imports."""

from __future__ import annotations

import pytest

from bot.ingest.opml import OpmlError, parse_opml, render_opml

SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My feeds</title></head><body>
  <outline text="nato">
    <outline type="rss" text="NATO News" xmlUrl="https://www.nato.int/rss.xml"/>
    <outline text="nested"><outline type="rss" text="Deep" xmlUrl="https://deep.example/feed"/></outline>
  </outline>
  <outline type="rss" title="Kyiv Independent" xmlUrl="https://kyivindependent.com/rss/" category="/ukraine/war,trump"/>
  <outline type="rss" text="Bad scheme" xmlUrl="javascript:alert(1)"/>
  <outline type="rss" text="Duplicate" xmlUrl="https://www.nato.int/rss.xml"/>
</body></opml>"""


def test_parse_opml_folders_categories_and_junk() -> None:
    specs = {s.url: s for s in parse_opml(SAMPLE)}
    assert set(specs) == {"https://www.nato.int/rss.xml", "https://deep.example/feed", "https://kyivindependent.com/rss/"}
    assert specs["https://www.nato.int/rss.xml"].topics == ("nato",)
    assert specs["https://www.nato.int/rss.xml"].title == "NATO News"
    assert specs["https://deep.example/feed"].topics == ("nato", "nested")
    assert specs["https://kyivindependent.com/rss/"].topics == ("trump", "ukraine")


def test_hostile_or_broken_opml_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><opml><body/></opml>'
    with pytest.raises(OpmlError, match="entities"):
        parse_opml(bomb)
    with pytest.raises(OpmlError, match="not valid OPML"):
        parse_opml(b"<opml><body><outline></body>")
    with pytest.raises(OpmlError, match="root element"):
        parse_opml(b"<rss/>")


def test_render_round_trip() -> None:
    rows = [("https://a.example/feed?x=1&y=2", 'A "quoted" <feed>', ["nato"]), ("https://b.example/rss", None, [])]
    specs = parse_opml(render_opml(rows).encode())
    assert [(s.url, s.title, s.topics) for s in specs] == [
        ("https://a.example/feed?x=1&y=2", 'A "quoted" <feed>', ("nato",)),
        ("https://b.example/rss", "https://b.example/rss", ()),
    ]
