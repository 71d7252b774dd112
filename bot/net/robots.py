"""robots.txt, fetched once per origin and cached, read the way RFC 9309 says.

- 2xx: the rules apply (group for our product token, else `*`); Crawl-delay is passed to the limiter.
  Rules are read by protego: `*` and `$` in paths and the most specific (longest) match winning,
  both of which urllib.robotparser ignores (it reads `/*.pdf$` literally and takes the first match).
- 4xx (404 and friends): no rules, everything allowed.
- 5xx, 429, network errors: the site is "unreachable", so nothing is fetched from it for now; the
  answer is cached briefly and the page is retried later, not marked blocked.
The robots request itself goes through the per-origin limiter, so it counts toward the rate too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from protego import Protego

from bot.net.ratelimit import HostLimiter, origin_of

log = logging.getLogger(__name__)

Verdict = Literal["allow", "disallow", "unreachable"]
ROBOTS_TTL_S = 24 * 3600.0  # RFC 9309: a cached robots.txt should not be used for more than 24 h
UNREACHABLE_TTL_S = 600.0
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least the first 500 KiB


class _Result(Protocol):
    status: int
    body: bytes
    error: str | None
    retry_after_s: float | None


class Fetcher(Protocol):
    async def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None, accept: str | None = None
    ) -> _Result: ...


@dataclass
class Rules:
    """One origin's answer: a parser when rules were read, or a blanket allow / unreachable."""

    kind: Literal["rules", "allow_all", "unreachable"]
    parser: Protego | None
    expires_at: float
    note: str = ""

    def verdict(self, user_agent: str, url: str) -> Verdict:
        if self.kind == "allow_all":
            return "allow"
        if self.kind == "unreachable" or self.parser is None:
            return "unreachable"
        return "allow" if self.parser.can_fetch(url, product_token(user_agent)) else "disallow"


def product_token(user_agent: str) -> str:
    """`newsbot/0.1 (+https://…)` -> `newsbot`: the name robots.txt groups are matched against."""
    return (user_agent.split("/", 1)[0].split() or ["*"])[0]


def parse_robots(text: str) -> Protego:
    return Protego.parse(text)


def rules_from_response(status: int, body: bytes, error: str | None, now: float) -> Rules:
    """Pure: what a robots.txt response means for the origin (RFC 9309, section 2.3.1)."""
    if 200 <= status < 300 and error is None:
        text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
        return Rules("rules", parse_robots(text), now + ROBOTS_TTL_S)
    if 400 <= status < 500 and status != 429:
        return Rules("allow_all", None, now + ROBOTS_TTL_S, note=f"robots.txt HTTP {status}")
    return Rules("unreachable", None, now + UNREACHABLE_TTL_S, note=error or f"robots.txt HTTP {status}")


class RobotsCache:
    """Per-origin robots.txt rules; concurrent askers for one origin share one fetch."""

    def __init__(
        self,
        fetcher: Fetcher,
        limiter: HostLimiter,
        user_agent: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._limiter = limiter
        self.user_agent = user_agent
        self._clock = clock
        self._rules: dict[str, Rules] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0

    async def rules_for(self, origin: str) -> Rules:
        cached = self._rules.get(origin)
        if cached is not None and cached.expires_at > self._clock():
            return cached
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._rules.get(origin)
            if cached is not None and cached.expires_at > self._clock():
                return cached
            async with self._limiter.slot(origin):
                self.fetches += 1
                res = await self._fetcher.get(f"{origin}/robots.txt", accept="text/plain, */*;q=0.5")
            if res.status in (429, 503):
                self._limiter.back_off(origin, res.retry_after_s)
            rules = rules_from_response(res.status, res.body, res.error, self._clock())
            if rules.kind == "unreachable":
                log.info("robots.txt for %s unreachable: %s", origin, rules.note)
            elif rules.parser is not None:
                delay = rules.parser.crawl_delay(product_token(self.user_agent))
                self._limiter.set_crawl_delay(origin, float(delay) if delay else None)
            self._rules[origin] = rules
            return rules

    async def check(self, url: str) -> Verdict:
        """May this page be fetched? (`unreachable`: not now, ask again later.)"""
        rules = await self.rules_for(origin_of(url))
        return rules.verdict(self.user_agent, url)
