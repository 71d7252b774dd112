"""Per-origin politeness: at most `rate_per_s` request starts a second and `concurrency` at once.

An origin is (scheme, host, port): two sites on one address are two publishers. A 429 or 503
with Retry-After (or a robots.txt Crawl-delay) pushes that origin's next start back for everyone
waiting on it, so a publisher that asks us to slow down is not hit again by the next queued page.
The clock and sleep are injectable so the arithmetic can be tested without waiting.
Not aiolimiter: it spaces starts, not a start from the previous answer (a slow publisher got our
next request before it had answered the last), and has no per-origin keys or Retry-After push-back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """`scheme://host:port` with the default port filled in: the key for every per-host limit."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass
class _Origin:
    sem: asyncio.Semaphore
    last_start: float = float("-inf")  # when the last request to this origin started
    last_done: float = float("-inf")  # when a request to this origin last finished
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    blocked_until: float = 0.0  # Retry-After
    min_interval: float = 0.0  # Crawl-delay, when longer than ours


class HostLimiter:
    """Spaces requests per origin and caps requests in flight per origin and in all.

    A publisher never sees two of our requests closer together than the interval: the next one
    starts an interval after the previous one was answered, so in practice one origin has one
    request in flight at a time (within the configured "2 at once").

    A start is recorded at the moment the request is let go (not reserved in advance), after the
    global cap is held, so waiting for a global slot can never squeeze two starts to one origin
    closer together than the interval. Waiting for an origin's turn holds no global slot, so a
    slow or throttled publisher does not starve the others.
    """

    def __init__(
        self,
        rate_per_s: float = 1.0,
        concurrency: int = 2,
        *,
        total: int = 64,
        max_delay_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate_per_s
        self.concurrency = concurrency
        self.max_delay_s = max_delay_s
        self._total = asyncio.Semaphore(total)
        self._clock = clock
        self._sleep = sleep
        self._origins: dict[str, _Origin] = {}

    def _get(self, origin: str) -> _Origin:
        st = self._origins.get(origin)
        if st is None:
            st = self._origins[origin] = _Origin(asyncio.Semaphore(self.concurrency))
        return st

    def _ready_at(self, st: _Origin) -> float:
        # Spaced from the previous request's answer (and start): the publisher sees a request
        # arrive somewhere between our start and its answer, so this keeps its gaps >= the
        # interval even when our event loop was slow to send the earlier request.
        gap = max(self.interval, st.min_interval)
        return max(st.last_start + gap, st.last_done + gap, st.blocked_until)

    def blocked_for(self, origin: str) -> float:
        """Seconds until the origin's Retry-After runs out (0 when it is not blocked)."""
        st = self._origins.get(origin)
        return max(0.0, st.blocked_until - self._clock()) if st else 0.0

    def back_off(self, origin: str, seconds: float | None, default_s: float = 60.0) -> float:
        """The origin asked us to wait (429/503 Retry-After); returns the wait applied."""
        wait = min(self.max_delay_s, max(self.interval, seconds if seconds is not None else default_s))
        st = self._get(origin)
        st.blocked_until = max(st.blocked_until, self._clock() + wait)
        return wait

    def set_crawl_delay(self, origin: str, seconds: float | None) -> None:
        """robots.txt's Crawl-delay: honoured when it asks for more than our own spacing (capped)."""
        if seconds and seconds > self.interval:
            self._get(origin).min_interval = min(float(seconds), 60.0)

    @asynccontextmanager
    async def slot(self, origin: str) -> AsyncIterator[None]:
        """Hold one of the origin's request slots, entered no sooner than its rate allows."""
        st = self._get(origin)
        async with st.sem:
            while True:
                if st.inflight:  # the spacing is counted from its answer: wait for it
                    st.idle.clear()
                    await st.idle.wait()
                    continue
                delay = self._ready_at(st) - self._clock()
                if delay > 0:
                    await self._sleep(delay)
                    continue
                await self._total.acquire()
                # No await between this check and recording the start: asyncio makes it atomic.
                if not st.inflight and self._clock() >= self._ready_at(st):
                    st.last_start = self._clock()
                    st.inflight += 1
                    break
                self._total.release()  # another request to this origin went first; wait again
            try:
                yield
            finally:
                st.last_done = max(st.last_done, self._clock())
                st.inflight -= 1
                st.idle.set()
                self._total.release()
