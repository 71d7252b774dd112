"""Full-text pieces that need no database: extraction, honesty checks, robots rules, the limiter."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from bot.fulltext.extract import extract_page
from bot.net.fetch import SafeFetcher
from bot.net.ratelimit import HostLimiter, origin_of
from bot.net.robots import RobotsCache, product_token, rules_from_response
from bot.text.clean import clean_text
from bot.text.teaser import judge_page, needs_full_text, summary_overlap
from tests.newssite import (
    BOILERPLATE,
    CONSENT_PAGE,
    NOT_FOUND_PAGE,
    ROBOTS,
    TEMPLATES,
    NewsSite,
    make_article,
    paywall_page,
    render,
)


@pytest.mark.parametrize("template", TEMPLATES)
def test_extraction_keeps_the_story_and_drops_the_furniture(template: str) -> None:
    for n in range(6):
        a = make_article(n, template)
        page = extract_page(render(a, "http://news.test"), f"http://news.test{a.path}")
        assert page is not None
        assert a.quote in page.text
        for para in a.paragraphs:
            assert para in page.text
        lowered = page.text.lower()
        assert [b for b in BOILERPLATE if b.lower() in lowered] == []
        assert page.title == a.title
        assert not page.text.startswith(a.title)  # the headline is the title, not the first paragraph
        assert page.author == a.author
        assert page.published == date.fromisoformat(a.published)
        assert page.outlet == a.outlet
        assert judge_page(page.raw_text, page.text, summary=a.summary) is None


def test_pages_that_are_not_the_story_are_named() -> None:
    a = make_article(3)
    for markup, reason in (
        (CONSENT_PAGE, "consent wall"),
        (paywall_page(a), "paywall teaser"),
        (NOT_FOUND_PAGE, "error page"),
    ):
        page = extract_page(markup, "http://news.test/x")
        assert page is not None
        assert judge_page(page.raw_text, page.text, summary=a.summary) == reason
    # a page about something else entirely, long enough to pass for an article
    other = " ".join(["The orchestra rehearsed the symphony for the winter festival concert season."] * 10)
    assert judge_page(other, other, summary=a.summary) == "text unlike the summary"
    assert judge_page("Short.", "Short.", summary=None) == "text too short"


def test_a_long_article_mentioning_cookies_is_not_a_consent_wall() -> None:
    a = make_article(1)
    body = "\n\n".join(a.paragraphs) + "\n\nThe bakery said it would accept all orders and use cookies from partners."
    assert judge_page(body, body, summary=a.summary) is None


def test_summary_detection() -> None:
    a = make_article(0)
    full = "\n\n".join(a.paragraphs * 3)
    assert needs_full_text(a.summary)  # ends in "…"
    assert needs_full_text("Officials met in Brussels to discuss the alliance [...]")
    assert needs_full_text("<p>Officials met in Brussels.</p><p><a href='/x'>Read more</a></p>")
    assert needs_full_text(full + " Continue reading »")
    assert needs_full_text("")
    assert needs_full_text(None)
    assert not needs_full_text(full)
    assert needs_full_text(full, "always")
    assert not needs_full_text(a.summary, "never")
    overlap = summary_overlap(a.summary, full)
    assert overlap is not None and overlap > 0.9


def test_cleaner_drops_page_furniture_lines_the_same_way_for_every_source() -> None:
    raw = (
        "Rutte said allies were united.\n\nRead more: Markets slide as investors weigh tariffs\n\n"
        "We value your privacy\n\nManage options\n\nMost read\n\n12 comments\n\nRelated\n\n"
        "Join the conversation\n\nSee also: another story\n\nHe left for Kyiv."
    )
    doc = clean_text(raw, take_title=False)
    assert doc.text == "Rutte said allies were united.\n\nHe left for Kyiv."


def test_robots_rules_follow_rfc_9309() -> None:
    ua = "newsbot/0.1 (+https://example.org/bot)"
    assert product_token(ua) == "newsbot"
    rules = rules_from_response(200, ROBOTS.encode(), None, now=0)
    assert rules.verdict(ua, "http://h:1/news/1.html") == "allow"
    assert rules.verdict(ua, "http://h:1/private/1.html") == "disallow"
    assert rules.verdict("evilbot/1.0", "http://h:1/news/1.html") == "disallow"
    assert rules_from_response(404, b"", "HTTP 404", now=0).verdict(ua, "http://h/private/x") == "allow"
    assert rules_from_response(500, b"", "HTTP 500", now=0).verdict(ua, "http://h/news/x") == "unreachable"
    assert rules_from_response(429, b"", "HTTP 429", now=0).verdict(ua, "http://h/news/x") == "unreachable"
    assert rules_from_response(0, b"", "connection failed", now=0).verdict(ua, "http://h/x") == "unreachable"



def test_robots_wildcards_end_anchors_and_the_longest_match() -> None:
    """`*` and `$` in a path, and the most specific rule winning over an earlier broader one."""
    ua = "newsbot/0.1 (+https://example.org/bot)"
    text = (
        "User-agent: *\nDisallow: /\n\n"
        "User-agent: newsbot\nDisallow: /*.pdf$\nDisallow: /search?q=*\nDisallow: /\nAllow: /news/\n"
        "Allow: /archive/*/public\nCrawl-delay: 4\n"
    )
    rules = rules_from_response(200, text.encode(), None, now=0)
    assert rules.verdict(ua, "https://h/news/2026/story.html") == "allow"  # longer Allow beats `Disallow: /`
    assert rules.verdict(ua, "https://h/news/report.pdf") == "disallow"  # `/*.pdf$`
    assert rules.verdict(ua, "https://h/news/report.pdf?page=2") == "allow"  # `$`: the path must end there
    assert rules.verdict(ua, "https://h/archive/2019/public/x.html") == "allow"  # `*` inside a path
    assert rules.verdict(ua, "https://h/archive/2019/private/x.html") == "disallow"
    assert rules.verdict("otherbot/2", "https://h/news/2026/story.html") == "disallow"
    assert rules.parser is not None and rules.parser.crawl_delay(product_token(ua)) == 4


async def test_robots_cache_obeys_wildcard_rules_read_over_http() -> None:
    ua = "newsbot/0.1 (+https://example.org/bot)"
    site = await NewsSite(robots="User-agent: *\nDisallow: /\nAllow: /news/\nDisallow: /news/*.pdf$\n").start()
    fetcher = SafeFetcher(user_agent=ua, timeout_s=10, max_body_bytes=1_000_000, per_host_concurrency=2, allow_private=True)
    try:
        cache = RobotsCache(fetcher, HostLimiter(rate_per_s=100.0), ua)
        base = site.base()
        assert await cache.check(f"{base}/news/00001-classic.html") == "allow"
        assert await cache.check(f"{base}/news/00001.pdf") == "disallow"
        assert await cache.check(f"{base}/news/00001.pdf?page=2") == "allow"
        assert await cache.check(f"{base}/private/00001.html") == "disallow"
        assert [h.path for h in site.hits] == ["/robots.txt"]  # read once, no page requested
    finally:
        await fetcher.aclose()
        await site.stop()

def test_origin_is_scheme_host_port() -> None:
    assert origin_of("http://Example.org/a") == "http://example.org:80"
    assert origin_of("https://example.org/a") == "https://example.org:443"
    assert origin_of("http://127.0.0.1:8081/x") != origin_of("http://127.0.0.1:8082/x")


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, d: float) -> None:
        self.t += d
        await asyncio.sleep(0)


async def test_limiter_spaces_starts_caps_concurrency_and_honours_retry_after() -> None:
    clock = FakeClock()
    limiter = HostLimiter(rate_per_s=2.0, concurrency=2, total=3, clock=clock, sleep=clock.sleep)
    starts: dict[str, list[float]] = {"a": [], "b": []}
    inflight = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    async def request(origin: str) -> None:
        async with limiter.slot(origin):
            starts[origin].append(clock())
            inflight[origin] += 1
            peak[origin] = max(peak[origin], inflight[origin])
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            inflight[origin] -= 1

    await asyncio.gather(*(request(o) for o in ("a", "b") for _ in range(6)))
    for origin in ("a", "b"):
        gaps = [b - a for a, b in zip(starts[origin], starts[origin][1:], strict=False)]
        assert len(starts[origin]) == 6 and min(gaps) >= 0.5 - 1e-9
        assert peak[origin] <= 2
    limiter.back_off("a", 30)
    before = clock()
    await request("a")
    assert starts["a"][-1] >= before + 30
    limiter.set_crawl_delay("b", 5)
    await request("b")
    await request("b")
    assert starts["b"][-1] - starts["b"][-2] >= 5
