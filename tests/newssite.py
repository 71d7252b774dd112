"""A loopback news site for the full-text tests and benchmark.

Article pages in several templates (a classic news page with navigation, cookie banner, ads,
related stories and comments; a JSON-LD page with a "most read" sidebar; an AMP page; a blog with
a comment form and share buttons), plus the pages a crawler must be honest about: a consent wall,
a paywall teaser, a 404 and a robots.txt that disallows `/private/`. One site listens on many
loopback ports, each port its own origin ("host"), and records every request with its arrival
time so tests can check what was fetched and how fast.

Every article carries one quote by a tracked figure (the thing extraction must keep) and every
template carries boilerplate strings (the things extraction must drop): `Article.quote` and
`BOILERPLATE` are what the checks use.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

from aiohttp import web

TEMPLATES = ("classic", "jsonld", "amp", "blog")

# Every string here appears on article pages as site furniture and must not survive extraction.
BOILERPLATE = (
    "Skip to main content",
    "Home World Politics Business Sport",
    "We use cookies to improve your experience",
    "Accept all cookies",
    "Advertisement",
    "Markets slide as investors weigh tariffs",
    "Storm warning issued for the coast",
    "Great piece, thanks for writing it",
    "Leave a Reply",
    "Your email address will not be published",
    "Share this:",
    "Most read",
    "Celebrity chef opens new restaurant",
    "Sign up for our daily newsletter",
    "All rights reserved",
    "Subscribe now",
)

_FIGURES = (
    ("Mark Rutte", "NATO Secretary General", "Rutte"),
    ("Volodymyr Zelensky", "Ukrainian President", "Zelensky"),
    ("Donald Trump", "US President", "Trump"),
)
_TOPICS = ("alliance defence spending", "air defence for Ukraine", "the ceasefire talks", "sanctions on Russia")
_OUTLETS = ("Loopback Herald", "Example Times", "Daily Fixture", "Test Gazette")


@dataclass(frozen=True)
class Article:
    """One story as the site publishes it; the fields are what extraction should recover."""

    n: int
    template: str
    title: str
    author: str
    published: str  # YYYY-MM-DD
    outlet: str
    speaker: str
    quote: str
    paragraphs: tuple[str, ...]
    summary: str  # what a summary-only feed would carry

    @property
    def path(self) -> str:
        return f"/news/{self.n:05d}-{self.template}.html"


def make_article(n: int, template: str | None = None) -> Article:
    """A deterministic article: several paragraphs, one quote, a byline and a date."""
    name, title_word, short = _FIGURES[n % len(_FIGURES)]
    topic = _TOPICS[n % len(_TOPICS)]
    tmpl = template or TEMPLATES[n % len(TEMPLATES)]
    quote = f"We will not step back on {topic}, not this year and not in story {n}"
    day = 1 + n % 28
    paras = (
        f"Officials met on Tuesday in Brussels to discuss {topic}, a subject that has divided allies for months "
        f"and that story number {n} follows closely.",
        f"“{quote},” {title_word} {name} told reporters after the meeting, adding that the decision had been "
        "taken together with partners.",
        f"{short} said the talks would continue next week. Diplomats described the atmosphere as tense but "
        "constructive, and several delegations asked for more time to consult their capitals.",
        "Analysts noted that the outcome would shape budgets for years. A senior diplomat, speaking on condition "
        "of anonymity, said the final text was still being negotiated late into the night.",
        f"The meeting ended without a joint statement. A further round on {topic} is planned for the spring, "
        "when ministers are due to meet again.",
    )
    return Article(
        n=n,
        template=tmpl,
        title=f"Allies debate {topic} as {short} holds firm ({n})",
        author=("Jane Doe", "John Roe", "Alex Smith")[n % 3],
        published=f"2025-05-{day:02d}",
        outlet=_OUTLETS[n % len(_OUTLETS)],
        speaker=name,
        quote=quote,
        paragraphs=paras,
        summary=f"Officials met on Tuesday in Brussels to discuss {topic}, a subject that has divided allies for…",
    )


def _paras(a: Article) -> str:
    out = []
    for i, p in enumerate(a.paragraphs):
        out.append(f"<p>{html.escape(p)}</p>")
        if i == 1:
            out.append('<div class="ad-slot"><span>Advertisement</span></div>')
        if i == 2:  # furniture inside the story body, where extractors keep it: the cleaner's job
            out.append('<p><strong>Read more:</strong> <a href="/news/x1.html">Markets slide as investors weigh tariffs</a></p>')
            out.append("<p>Sign up for our daily newsletter</p>")
    return "\n".join(out)


_NAV = """<a class="skip" href="#main">Skip to main content</a>
<header><nav><ul><li><a href="/">Home World Politics Business Sport</a></li></ul></nav></header>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience.</p>
<button>Accept all cookies</button></div>"""

_RELATED = """<section class="related"><h2>Related stories</h2><ul>
<li><a href="/news/x1.html">Markets slide as investors weigh tariffs</a></li>
<li><a href="/news/x2.html">Storm warning issued for the coast</a></li></ul></section>"""

_FOOTER = """<footer><p>Sign up for our daily newsletter</p><p>© 2025 Loopback Media. All rights reserved.</p></footer>"""


def _jsonld(a: Article) -> str:
    return json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": a.title,
            "datePublished": f"{a.published}T09:30:00Z",
            "author": {"@type": "Person", "name": a.author},
            "publisher": {"@type": "Organization", "name": a.outlet},
        }
    )


def render(a: Article, base: str = "") -> str:
    """The article page in its template."""
    t = html.escape(a.title)
    if a.template == "classic":
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{t} | {a.outlet}</title>
<meta property="og:site_name" content="{a.outlet}"><meta name="author" content="{a.author}">
<meta property="article:published_time" content="{a.published}T09:30:00Z"></head><body>
{_NAV}
<main id="main"><article><h1>{t}</h1><p class="byline">By {a.author}</p>
<time datetime="{a.published}T09:30:00Z">{a.published}</time>
{_paras(a)}
</article>
{_RELATED}
<section id="comments" class="comments"><h3>3 comments</h3>
<div class="comment"><p>Great piece, thanks for writing it.</p></div>
<h3>Leave a Reply</h3><p>Your email address will not be published.</p>
<form><textarea name="comment"></textarea><button>Post Comment</button></form></section></main>
{_FOOTER}</body></html>"""
    if a.template == "jsonld":
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<script type="application/ld+json">{_jsonld(a)}</script></head><body>
{_NAV}
<div class="layout"><div class="story-body"><h1 class="headline">{t}</h1>
<div class="meta">{a.author} · {a.published}</div>
{_paras(a)}
</div>
<aside class="sidebar"><h2>Most read</h2><ol><li><a href="/news/y1.html">Celebrity chef opens new restaurant</a></li>
<li><a href="/news/y2.html">Storm warning issued for the coast</a></li></ol></aside></div>
{_FOOTER}</body></html>"""
    if a.template == "amp":
        return f"""<!doctype html><html ⚡ lang="en"><head><meta charset="utf-8"><title>{t}</title>
<link rel="canonical" href="{base}{a.path}"><meta name="viewport" content="width=device-width">
<script async src="https://cdn.ampproject.org/v0.js"></script>
<script type="application/ld+json">{_jsonld(a)}</script>
<style amp-custom>body{{font-family:serif}}</style></head><body>
<header class="amp-header"><a href="/">Home World Politics Business Sport</a></header>
<article class="amp-article"><h1>{t}</h1><address>By {a.author}</address>
<amp-img src="/img/{a.n}.jpg" width="600" height="400" layout="responsive"></amp-img>
{_paras(a).replace('<div class="ad-slot"><span>Advertisement</span></div>', '<amp-ad width="300" height="250" type="doubleclick"><div>Advertisement</div></amp-ad>')}
</article>
{_RELATED}
{_FOOTER}</body></html>"""
    # blog
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{t} – {a.outlet}</title>
<meta property="og:site_name" content="{a.outlet}">
<meta property="article:published_time" content="{a.published}T09:30:00+00:00"></head><body class="single-post">
{_NAV}
<div id="content" class="site-content"><div class="entry-header"><h1 class="entry-title">{t}</h1>
<span class="byline">by <span class="author vcard">{a.author}</span></span>
<span class="posted-on">{a.published}</span></div>
<div class="entry-content">
{_paras(a)}
<div class="sharedaddy"><h3>Share this:</h3><ul><li>Twitter</li><li>Facebook</li></ul></div>
<div class="jp-relatedposts"><h3>Related</h3><p><a href="/x">Markets slide as investors weigh tariffs</a></p></div>
</div>
<div id="respond" class="comment-respond"><h3 id="reply-title">Leave a Reply</h3>
<p class="comment-notes">Your email address will not be published. Required fields are marked *</p>
<form id="commentform"><textarea></textarea><input type="submit" value="Post Comment"></form></div></div>
{_FOOTER}</body></html>"""


CONSENT_PAGE = """<!doctype html><html><head><title>Before you continue</title></head><body>
<div class="consent"><h1>We value your privacy</h1>
<p>We and our partners use cookies and similar technologies to store and access information on your device.</p>
<p>You can accept or manage your choices below. Your choices will apply to this site only.</p>
<button>Accept all</button><button>Manage options</button></div></body></html>"""


def paywall_page(a: Article) -> str:
    return f"""<!doctype html><html><head><title>{html.escape(a.title)}</title></head><body>
<article><h1>{html.escape(a.title)}</h1><p>{html.escape(a.paragraphs[0])}</p>
<div class="paywall"><h2>Subscribe to continue reading</h2>
<p>This article is for subscribers only. Already a subscriber? Log in.</p><p>Subscribe now</p></div>
</article></body></html>"""


NOT_FOUND_PAGE = """<!doctype html><html><head><title>Page not found</title></head><body>
<h1>404 – Page not found</h1><p>Sorry, the page you were looking for does not exist.</p>
<p><a href="/">Return to the home page</a></p></body></html>"""

ROBOTS = "User-agent: *\nDisallow: /private/\n\nUser-agent: evilbot\nDisallow: /\n"


@dataclass
class Hit:
    port: int
    path: str
    at: float  # time.monotonic() on arrival
    user_agent: str


@dataclass
class NewsSite:
    """The site on `hosts` loopback ports. `throttle_ports` answer 429 (Retry-After) to their first page."""

    hosts: int = 1
    throttle_ports: int = 0
    retry_after_s: float = 1
    response_delay_s: float = 0.0
    robots: str = ROBOTS  # the robots.txt every port serves
    gate: asyncio.Event | None = None  # when set, article pages wait for it (a fetch "in flight" on demand)
    page_requested: asyncio.Event = field(default_factory=asyncio.Event)  # set by the first non-robots request
    hits: list[Hit] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _throttled: set[int] = field(default_factory=set)
    _inflight: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    max_inflight: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def base(self, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def url(self, a: Article, host: int | None = None) -> str:
        i = a.n % len(self.ports) if host is None else host
        return f"{self.base(i)}{a.path}"

    def hits_for(self, port: int, *, pages_only: bool = False) -> list[Hit]:
        return [h for h in self.hits if h.port == port and (not pages_only or h.path != "/robots.txt")]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        port = int(sock[1]) if sock else 0
        self.hits.append(Hit(port, request.path, time.monotonic(), request.headers.get("User-Agent", "")))
        if request.path != "/robots.txt":
            self.page_requested.set()
        self._inflight[port] += 1
        self.max_inflight[port] = max(self.max_inflight[port], self._inflight[port])
        try:
            if self.response_delay_s:
                await asyncio.sleep(self.response_delay_s)
            if self.gate is not None and request.path != "/robots.txt":
                await self.gate.wait()
            return self._page(port, request.path)
        finally:
            self._inflight[port] -= 1

    def _page(self, port: int, path: str) -> web.Response:
        html_type = "text/html"
        if path == "/robots.txt":
            return web.Response(text=self.robots, content_type="text/plain")
        if port in self.ports[: self.throttle_ports] and port not in self._throttled:
            self._throttled.add(port)
            return web.Response(status=429, text="slow down", headers={"Retry-After": str(self.retry_after_s)})
        name = path.rsplit("/", 1)[-1]
        digits = re.match(r"\d+", name)
        n = int(digits.group()) if digits else -1
        if path.startswith("/news/") and n >= 0:
            template = name.split("-", 1)[1].removesuffix(".html")
            if template not in TEMPLATES:
                return web.Response(status=404, text=NOT_FOUND_PAGE, content_type=html_type)
            return web.Response(text=render(make_article(n, template), f"http://127.0.0.1:{port}"), content_type=html_type)
        if path.startswith("/private/") and n >= 0:
            return web.Response(text=render(make_article(n, "classic")), content_type=html_type)
        if path.startswith("/consent/"):
            return web.Response(text=CONSENT_PAGE, content_type=html_type)
        if path.startswith("/paywall/") and n >= 0:
            return web.Response(text=paywall_page(make_article(n)), content_type=html_type)
        if path.startswith("/soft404/"):
            return web.Response(text=NOT_FOUND_PAGE, content_type=html_type)  # an error page served as 200
        return web.Response(status=404, text=NOT_FOUND_PAGE, content_type=html_type)

    async def start(self) -> NewsSite:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        for _ in range(self.hosts):
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None
            self.ports.append(int(server.sockets[0].getsockname()[1]))  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
