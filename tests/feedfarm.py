"""A loopback "feed farm": RSS/Atom/RDF/JSON feeds and hostile endpoints served by aiohttp on 127.0.0.1.

Reusable by tests, benchmarks/ingest.py and reliability tests. Feeds are plain data
(`FarmFeed` with `FarmItem`s) rendered on demand and cached until changed; every request is
counted per path so tests can prove a feed was polled exactly once or answered with a 304.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any

from aiohttp import web

WORDS = ["alliance", "summit", "minister", "defence", "budget", "security", "border", "ceasefire", "talks", "sanctions", "energy", "grain", "drone", "missile", "brigade", "parliament", "election", "court", "ruling", "tariff", "trade", "pipeline", "winter", "offensive", "aid", "package", "treaty", "member", "states", "capital", "envoy", "proposal", "statement", "press", "conference", "frontline", "reconstruction", "fund", "pledge", "delegation", "negotiators", "deadline", "vote", "coalition", "report", "analysts", "officials", "region", "city", "village", "river", "port", "bridge", "railway", "shipment", "convoy", "airspace", "patrol"]


def prose(seed: int | str, words: int = 80) -> str:
    """Deterministic filler text: different seeds give texts that share little beyond common words."""
    rng = random.Random(seed)
    out, sentence = [], []
    for _ in range(words):
        sentence.append(rng.choice(WORDS))
        if len(sentence) >= rng.randint(8, 16):
            out.append(" ".join(sentence).capitalize() + ".")
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


@dataclass
class FarmItem:
    guid: str | None
    title: str
    body: str  # HTML or text
    link: str | None = None  # absolute or relative
    published: datetime | None = None
    full: bool = True  # content:encoded / atom content vs description only
    guid_is_permalink: bool = False


@dataclass
class FarmFeed:
    title: str
    items: list[FarmItem] = field(default_factory=list)
    fmt: str = "rss"  # rss | atom | rdf | json
    encoding: str = "utf-8"
    link: str = "https://example.org/"
    validators: bool = True  # ETag + Last-Modified, answering 304 when they match
    max_age: int | None = None
    content_type: str | None = None


def _rfc822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def render(feed: FarmFeed) -> tuple[bytes, str]:
    """Feed bytes and content type."""
    if feed.fmt == "json":
        return _render_json(feed), feed.content_type or "application/feed+json"
    text = {"rss": _render_rss, "atom": _render_atom, "rdf": _render_rdf}[feed.fmt](feed)
    ctype = {"rss": "application/rss+xml", "atom": "application/atom+xml", "rdf": "application/rdf+xml"}[feed.fmt]
    return text.encode(feed.encoding, errors="xmlcharrefreplace"), feed.content_type or ctype


def _render_rss(f: FarmFeed) -> str:
    parts = [
        f'<?xml version="1.0" encoding="{f.encoding}"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n<channel>'
        f"<title>{escape(f.title)}</title><link>{escape(f.link)}</link><description>farm</description>"
    ]
    for it in f.items:
        parts.append("<item>")
        parts.append(f"<title>{escape(it.title)}</title>")
        if it.link:
            parts.append(f"<link>{escape(it.link)}</link>")
        if it.guid:
            perma = "true" if it.guid_is_permalink else "false"
            parts.append(f'<guid isPermaLink="{perma}">{escape(it.guid)}</guid>')
        if it.published:
            parts.append(f"<pubDate>{_rfc822(it.published)}</pubDate>")
        if it.full:
            parts.append(f"<description>{escape(it.body[:200])}</description>")
            parts.append(f"<content:encoded><![CDATA[{it.body}]]></content:encoded>")
        else:
            parts.append(f"<description>{escape(it.body)}</description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts)


def _render_atom(f: FarmFeed) -> str:
    parts = [
        f'<?xml version="1.0" encoding="{f.encoding}"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title>{escape(f.title)}</title><link href="{escape(f.link)}"/><id>urn:farm:{escape(f.title)}</id>'
        "<updated>2025-06-01T00:00:00Z</updated>"
    ]
    for it in f.items:
        parts.append("<entry>")
        parts.append(f"<title>{escape(it.title)}</title>")
        if it.link:
            parts.append(f'<link rel="alternate" href="{escape(it.link)}"/>')
        if it.guid:
            parts.append(f"<id>{escape(it.guid)}</id>")
        if it.published:
            parts.append(f"<published>{it.published.astimezone(UTC).isoformat()}</published>")
        tag = "content" if it.full else "summary"
        parts.append(f'<{tag} type="html">{escape(it.body)}</{tag}>')
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts)


def _render_rdf(f: FarmFeed) -> str:
    items = "".join(f'<rdf:li rdf:resource="{escape(it.link or "")}"/>' for it in f.items)
    parts = [
        f'<?xml version="1.0" encoding="{f.encoding}"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="{escape(f.link)}"><title>{escape(f.title)}</title><link>{escape(f.link)}</link>'
        f"<description>farm</description><items><rdf:Seq>{items}</rdf:Seq></items></channel>"
    ]
    for it in f.items:
        parts.append(f'<item rdf:about="{escape(it.guid or it.link or "")}">')
        parts.append(f"<title>{escape(it.title)}</title><link>{escape(it.link or '')}</link>")
        parts.append(f"<description>{escape(it.body)}</description>")
        if it.published:
            parts.append(f"<dc:date>{it.published.astimezone(UTC).isoformat()}</dc:date>")
        parts.append("</item>")
    parts.append("</rdf:RDF>")
    return "".join(parts)


def _render_json(f: FarmFeed) -> bytes:
    items: list[dict[str, Any]] = []
    for it in f.items:
        d: dict[str, Any] = {"id": it.guid, "title": it.title}
        if it.link:
            d["url"] = it.link
        d["content_html" if it.full else "summary"] = it.body
        if it.published:
            d["date_published"] = it.published.astimezone(UTC).isoformat()
        items.append(d)
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": f.title, "home_page_url": f.link, "items": items}
    return json.dumps(doc).encode("utf-8")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Laughs</title><item><title>&lol9;</title><guid>bomb-1</guid>
<description>&lol9;</description></item></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>XXE</title><item><title>x</title><guid>xxe-1</guid>
<description>&xxe;</description></item></channel></rss>"""

HTML_PAGE = b"""<!DOCTYPE html><html><head><title>Just a page</title></head>
<body><h1>Welcome</h1><p>This is a web page, not a feed.</p></body></html>"""

HTML_WITH_ALTERNATE = b"""<!DOCTYPE html><html><head><title>News site</title>
<link rel="alternate" type="application/rss+xml" title="RSS" href="/feeds/advertised">
</head><body><p>Front page</p></body></html>"""

JUNK = b"\x00\x01\x02 this is not xml <<< >>> &&& \xff\xfe"


class FeedFarm:
    """Serve many feeds and hostile endpoints on one loopback port."""

    def __init__(self, *, cap_bytes: int = 10 * 1024 * 1024, slow_s: float = 30.0) -> None:
        self.feeds: dict[str, FarmFeed] = {}
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.cap_bytes = cap_bytes
        self.slow_s = slow_s
        self._cache: dict[str, tuple[bytes, str, str, str]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.host = "127.0.0.1"
        self.requests: list[tuple[str, dict[str, str]]] = []  # path, headers (for UA/validator checks)
        self.keep_requests = False
        self.inflight: Counter[str] = Counter()
        self.max_inflight: Counter[str] = Counter()
        self.connections: dict[str, set[Any]] = {}  # Host header -> client (address, port) pairs seen

    # -- content ----------------------------------------------------------------------------
    def put(self, name: str, feed: FarmFeed) -> str:
        self.feeds[name] = feed
        self._cache.pop(name, None)
        return self.url(f"/feeds/{name}")

    def changed(self, name: str) -> None:
        self._cache.pop(name, None)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def vhost_url(self, path: str, n: int) -> str:
        """The same farm under virtual host number `n` (see `farm_resolver`).

        A real fleet of feeds lives on many publishers' hosts, and the fetcher is polite per host;
        serving 1,000 feeds from one host:port would measure that politeness limit, not the engine.
        """
        return self.url(path, host=vhost(n))

    def _rendered(self, name: str) -> tuple[bytes, str, str, str]:
        got = self._cache.get(name)
        if got is None:
            feed = self.feeds[name]
            body, ctype = render(feed)
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            dates = [i.published for i in feed.items if i.published]
            lm = _rfc822(max(dates)) if dates else _rfc822(datetime(2025, 1, 1, tzinfo=UTC))
            got = self._cache[name] = (body, ctype, etag, lm)
        return got

    # -- handlers ---------------------------------------------------------------------------
    async def _feed(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in self.feeds:
            raise web.HTTPNotFound()
        feed = self.feeds[name]
        body, ctype, etag, lm = self._rendered(name)
        headers = {"Content-Type": ctype}
        if feed.max_age is not None:
            headers["Cache-Control"] = f"max-age={feed.max_age}"
        if feed.validators:
            headers["ETag"] = etag
            headers["Last-Modified"] = lm
            if request.headers.get("If-None-Match") == etag:
                self.not_modified[request.path] += 1
                return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        code = int(request.match_info["code"])
        headers = {}
        if code in (429, 503):
            headers["Retry-After"] = request.query.get("retry", "120")
        return web.Response(status=code, text=f"status {code}", headers=headers)

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.slow_s)
        return web.Response(text="late")

    async def _slow_body(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        await resp.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        for _ in range(int(self.slow_s * 10)):
            await asyncio.sleep(0.1)
            await resp.write(b" ")
        return resp

    async def _loop(self, request: web.Request) -> web.StreamResponse:
        other = "b" if request.match_info["which"] == "a" else "a"
        raise web.HTTPFound(f"/h/loop-{other}")

    async def _chain(self, request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        target = request.query.get("to", "/feeds/f0")
        if n <= 0:
            raise web.HTTPFound(target)
        raise web.HTTPFound(f"/h/chain/{n - 1}?to={target}")

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.query["to"])

    async def _big(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        chunk = b"<!-- " + b"x" * (64 * 1024 - 9) + b" -->"
        sent = 0
        try:
            await resp.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
            while sent <= self.cap_bytes + len(chunk):
                await resp.write(chunk)
                sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up at its cap, as it should
        return resp

    async def _big_declared(self, request: web.Request) -> web.StreamResponse:
        size = self.cap_bytes + 1
        return web.Response(body=b"x" * size, content_type="application/rss+xml")

    async def _gzip_bomb(self, request: web.Request) -> web.StreamResponse:
        raw = b'<?xml version="1.0"?><rss><channel>' + b" " * (self.cap_bytes * 2)
        return web.Response(body=gzip.compress(raw, 9), headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"})

    def _static(self, body: bytes, ctype: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(body=body, headers={"Content-Type": ctype})

        return handler

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.hits[request.path] += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.connections.setdefault(request.host, set()).add(peer)
        if self.keep_requests:
            self.requests.append((request.path_qs, dict(request.headers)))
        self.inflight[request.path] += 1
        self.max_inflight[request.path] = max(self.max_inflight[request.path], self.inflight[request.path])
        try:
            return await handler(request)
        finally:
            self.inflight[request.path] -= 1

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count])
        app.router.add_get("/feeds/{name}", self._feed)
        app.router.add_get("/h/status/{code}", self._status)
        app.router.add_get("/h/slow", self._slow)
        app.router.add_get("/h/slow-body", self._slow_body)
        app.router.add_get("/h/loop-{which}", self._loop)
        app.router.add_get("/h/chain/{n}", self._chain)
        app.router.add_get("/h/redirect", self._redirect)
        app.router.add_get("/h/big", self._big)
        app.router.add_get("/h/big-declared", self._big_declared)
        app.router.add_get("/h/gzip-bomb", self._gzip_bomb)
        app.router.add_get("/h/bomb", self._static(BILLION_LAUGHS, "application/rss+xml"))
        app.router.add_get("/h/xxe", self._static(EXTERNAL_ENTITY, "application/rss+xml"))
        app.router.add_get("/h/html", self._static(HTML_PAGE, "text/html; charset=utf-8"))
        app.router.add_get("/h/html-alt", self._static(HTML_WITH_ALTERNATE, "text/html; charset=utf-8"))
        app.router.add_get("/h/junk", self._static(JUNK, "application/rss+xml"))
        return app

    HOSTILE_PATHS = (
        "/h/status/500",
        "/h/slow",
        "/h/loop-a",
        "/h/big",
        "/h/bomb",
        "/h/junk",
        "/h/html",
        "/h/html-alt",
    )

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        return self.url("")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedFarm:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


VHOST_SUFFIX = ".farm.test"


def vhost(n: int) -> str:
    return f"pub{n}{VHOST_SUFFIX}"


async def farm_resolver(host: str, port: int) -> list[str]:
    """A `SafeFetcher` resolver that sends the farm's virtual hosts to 127.0.0.1 (and nothing else)."""
    if host.lower().endswith(VHOST_SUFFIX):
        return ["127.0.0.1"]
    raise OSError(f"farm resolver: unknown host {host}")


def farm_items(feed_key: str, n: int, *, start: datetime | None = None, words: int = 80, step_min: int = 37) -> list[FarmItem]:
    """n distinct articles for one feed, newest first, with dates spaced `step_min` minutes apart."""
    start = start or datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        key = f"{feed_key}-{i}"
        out.append(
            FarmItem(
                guid=f"urn:farm:{key}",
                title=f"Story {key}: " + prose(f"t{key}", 6).rstrip("."),
                body=f"<p>{prose(key, words)}</p><p>{prose(key + 'b', words // 2)}</p>",
                link=f"https://news.example/{feed_key}/{i}?utm_source=rss",
                published=start - timedelta(minutes=step_min * i),
            )
        )
    return out
