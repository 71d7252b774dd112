"""The safe fetcher against real loopback servers: SSRF guard, caps, timeouts, redirects, validators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.net.fetch import (
    SafeFetcher,
    address_refusal,
    check_url_allowed,
    parse_max_age,
    parse_retry_after,
    system_resolver,
)
from tests.feedfarm import FarmFeed, FeedFarm, farm_items, farm_resolver

CAP = 256 * 1024


@pytest.fixture
async def farm() -> AsyncIterator[FeedFarm]:
    async with FeedFarm(cap_bytes=CAP, slow_s=5.0) as f:
        f.put("f0", FarmFeed("Feed zero", farm_items("f0", 3)))
        yield f


async def fake_resolver(host: str, port: int) -> list[str]:
    table = {
        "public.test": ["127.0.0.1"],  # exempted below: stands in for a public site
        "rebind.test": ["93.184.216.34", "10.0.0.5"],
        "metadata.test": ["169.254.169.254"],
        "intranet.test": ["192.168.1.20"],
    }
    if host not in table:
        return await system_resolver(host, port)
    return table[host]


def fetcher(allow_private: bool = True, **kw: object) -> SafeFetcher:
    args: dict[str, object] = {
        "user_agent": "newsbot-test/1.0",
        "timeout_s": 2.0,
        "max_body_bytes": CAP,
        "per_host_concurrency": 2,
        "allow_private": allow_private,
    }
    args.update(kw)
    return SafeFetcher(**args)  # type: ignore[arg-type]


def test_address_classes() -> None:
    assert address_refusal("8.8.8.8") is None
    assert address_refusal("2606:4700:4700::1111") is None
    assert address_refusal("127.0.0.1") == "refused: resolves to loopback address 127.0.0.1"
    assert address_refusal("10.0.0.5") == "refused: resolves to private address 10.0.0.5"
    assert "cloud metadata" in (address_refusal("169.254.169.254") or "")
    assert "link-local" in (address_refusal("169.254.1.1") or "")
    assert "loopback" in (address_refusal("::1") or "")
    assert "loopback" in (address_refusal("::ffff:127.0.0.1") or "")  # IPv4-mapped
    assert "private" in (address_refusal("fd00::1") or "")
    assert address_refusal("0.0.0.0") is not None
    assert address_refusal("100.64.0.1") is not None  # carrier-grade NAT: not global


def test_check_url_allowed() -> None:
    assert check_url_allowed("http://127.0.0.1/feed", False) == "refused: resolves to loopback address 127.0.0.1"
    assert check_url_allowed("http://localhost/feed", False) is not None
    assert check_url_allowed("http://10.1.2.3/", False) == "refused: resolves to private address 10.1.2.3"
    assert check_url_allowed("http://127.0.0.1/feed", True) is None
    assert check_url_allowed("file:///etc/passwd", True) == "refused: only http(s) URLs"
    assert check_url_allowed("gopher://x/", False) == "refused: only http(s) URLs"


def test_header_parsing() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_max_age("public, max-age=600") == 600.0
    assert parse_max_age("no-cache") is None


async def test_ssrf_refused_without_opt_in(farm: FeedFarm) -> None:
    f = fetcher(allow_private=False, resolver=fake_resolver, exempt_hosts={"public.test"})
    try:
        cases = {
            farm.url("/feeds/f0"): "refused: resolves to loopback address 127.0.0.1",
            "http://10.0.0.5/feed": "refused: resolves to private address 10.0.0.5",
            "http://169.254.169.254/latest/meta-data/": "refused: resolves to cloud metadata address 169.254.169.254",
            f"http://metadata.test:{farm.port}/": "refused: resolves to cloud metadata address 169.254.169.254",
            f"http://intranet.test:{farm.port}/": "refused: resolves to private address 192.168.1.20",
            # one private answer among public ones refuses the host (DNS rebinding)
            f"http://rebind.test:{farm.port}/": "refused: resolves to private address 10.0.0.5",
        }
        for url, reason in cases.items():
            got = await f.get(url)
            assert got.error == reason, url
            assert got.body == b""
        # the test hook: an exempted host name resolving to loopback is fetched
        ok = await f.get(f"http://public.test:{farm.port}/feeds/f0")
        assert ok.error is None and b"Feed zero" in ok.body
        hits_before = farm.hits["/feeds/f0"]
        # allowed -> private redirect: refused at the second hop, the private URL never requested
        for target in (farm.url("/feeds/f0"), f"http://localhost:{farm.port}/feeds/f0"):
            got = await f.get(f"http://public.test:{farm.port}/h/redirect?to={target}")
            assert got.error == "refused: resolves to loopback address 127.0.0.1", target
        assert farm.hits["/feeds/f0"] == hits_before
    finally:
        await f.aclose()


async def test_localhost_by_name_refused(farm: FeedFarm) -> None:
    f = fetcher(allow_private=False)  # the real system resolver
    try:
        got = await f.get(f"http://localhost:{farm.port}/feeds/f0")
        assert got.error is not None and got.error.startswith("refused: resolves to loopback address")
        assert farm.hits["/feeds/f0"] == 0
    finally:
        await f.aclose()


async def test_limits_and_errors(farm: FeedFarm) -> None:
    f = fetcher(timeout_s=1.0)
    try:
        assert (await f.get(farm.url("/h/status/500"))).error == "HTTP 500"
        assert (await f.get(farm.url("/h/slow"))).error == "timeout after 1 s"
        assert (await f.get(farm.url("/h/slow-body"))).error == "timeout after 1 s"  # total deadline, trickling body
        assert (await f.get(farm.url("/h/loop-a"))).error == "redirect loop"
        assert (await f.get(farm.url("/h/chain/6"))).error == "too many redirects (more than 5)"
        five = await f.get(farm.url("/h/chain/4"))
        assert five.error is None and five.url.endswith("/feeds/f0") and b"Feed zero" in five.body
        assert (await f.get(farm.url("/h/big"))).error == "body over 256 KB cap"
        assert (await f.get(farm.url("/h/big-declared"))).error == "body over 256 KB cap"
        assert (await f.get(farm.url("/h/gzip-bomb"))).error == "body over 256 KB cap"
        limited = await f.get(farm.url("/h/status/429?retry=90"))
        assert limited.error == "HTTP 429 (retry after 90 s)" and limited.retry_after_s == 90.0
        assert (await f.get("http://127.0.0.1:1/nothing")).error.startswith("connection failed")  # type: ignore[union-attr]
    finally:
        await f.aclose()


async def test_conditional_get_user_agent_and_max_age(farm: FeedFarm) -> None:
    farm.feeds["f0"].max_age = 600
    farm.changed("f0")
    farm.keep_requests = True
    f = fetcher()
    try:
        first = await f.get(farm.url("/feeds/f0"))
        assert first.status == 200 and first.max_age_s == 600.0
        etag, lm = first.headers["etag"], first.headers["last-modified"]
        again = await f.get(farm.url("/feeds/f0"), etag=etag, last_modified=lm)
        assert again.not_modified and again.status == 304 and again.body == b"" and again.error is None
        assert farm.not_modified["/feeds/f0"] == 1
        _, headers = farm.requests[-1]
        assert headers["User-Agent"] == "newsbot-test/1.0"
        assert headers["If-None-Match"] == etag
        assert "gzip" in headers["Accept-Encoding"] and "br" in headers["Accept-Encoding"]
    finally:
        await f.aclose()


async def test_per_host_concurrency(farm: FeedFarm) -> None:
    farm.slow_s = 0.3
    f = fetcher(per_host_concurrency=2, timeout_s=10.0)
    try:
        results = await asyncio.gather(*(f.get(farm.url("/h/slow")) for _ in range(6)))
        assert all(r.error is None for r in results)
        assert farm.max_inflight["/h/slow"] == 2
    finally:
        await f.aclose()


async def test_politeness_is_per_virtual_host(farm: FeedFarm) -> None:
    """The benchmark spreads feeds over farm virtual hosts: each host keeps its own limit, and the
    farm resolver sends only `*.farm.test` names to the loopback farm."""
    farm.slow_s = 0.3
    f = SafeFetcher(
        user_agent="newsbot-test",
        timeout_s=10.0,
        max_body_bytes=CAP,
        per_host_concurrency=1,
        allow_private=True,
        resolver=farm_resolver,
    )
    try:
        urls = [farm.vhost_url("/h/slow", n) for n in (0, 1, 2) for _ in range(2)]
        results = await asyncio.gather(*(f.get(u) for u in urls))
        assert [r.error for r in results] == [None] * 6
        assert farm.max_inflight["/h/slow"] == 3  # one per host, three hosts at once
        other = await f.get(f"http://elsewhere.test:{farm.port}/feeds/f0")
        assert other.error is not None and other.error.startswith("connection failed")
    finally:
        await f.aclose()


async def test_a_hosts_feeds_reuse_its_connections(farm: FeedFarm) -> None:
    """Many feeds in flight over several hosts: each host's feeds share at most its politeness
    limit of connections (one pool per origin), instead of a new connection (and over HTTPS a new
    TLS handshake) nearly every time, as httpx's one shared pool did. Beyond `max_connections`,
    the least recently used host's connections are closed."""
    for n in range(40):
        farm.put(f"r{n}", FarmFeed(f"Feed {n}", farm_items(f"r{n}", 2)))
    f = SafeFetcher(
        user_agent="newsbot-test", timeout_s=10.0, max_body_bytes=CAP, per_host_concurrency=2,
        allow_private=True, resolver=farm_resolver, max_connections=10,  # ten hosts' pools
    )
    try:
        urls = [farm.vhost_url(f"/feeds/r{n}", n % 10) for n in range(40)]
        for _round in range(2):
            results = await asyncio.gather(*(f.get(u) for u in urls))
            assert [r.error for r in results] == [None] * 40
        per_host = {host.split(":")[0]: len(peers) for host, peers in farm.connections.items()}
        assert sorted(per_host) == [f"pub{n}.farm.test" for n in range(10)]
        assert all(n <= 2 for n in per_host.values()), per_host  # 8 requests each, over 2 connections at most
        for n in range(10):  # one more each, in order: pub0's pool is now the least recently used
            assert (await f.get(farm.vhost_url("/feeds/r0", n))).error is None
        assert {h.split(":")[0]: len(p) for h, p in farm.connections.items()} == per_host  # all reused
        assert (await f.get(farm.vhost_url("/feeds/r0", 10))).error is None  # an eleventh host: pub0's pool goes
        for n in (0, 9):
            assert (await f.get(farm.vhost_url("/feeds/r0", n))).error is None
        after = {h.split(":")[0]: len(p) for h, p in farm.connections.items()}
        assert after["pub0.farm.test"] == per_host["pub0.farm.test"] + 1  # connected afresh
        assert after["pub9.farm.test"] == per_host["pub9.farm.test"]  # still pooled
    finally:
        await f.aclose()


async def test_a_pool_still_streaming_a_body_is_not_closed_for_other_hosts(farm: FeedFarm) -> None:
    """Room for two pools, one host slowly sending its body, thirty other hosts fetched meanwhile:
    pools are closed only when idle, so the slow body arrives whole."""
    farm.slow_s = 1.0
    f = SafeFetcher(
        user_agent="newsbot-test", timeout_s=10.0, max_body_bytes=CAP, per_host_concurrency=1,
        allow_private=True, resolver=farm_resolver, max_connections=2,
    )
    try:
        slow = asyncio.create_task(f.get(farm.vhost_url("/h/slow-body", 99)))
        await asyncio.sleep(0.2)  # its headers are in; the body trickles
        for _round in range(3):
            results = await asyncio.gather(*(f.get(farm.vhost_url("/feeds/f0", n)) for n in range(30)))
            assert [r.error for r in results] == [None] * 30
        got = await slow
        assert got.error is None and got.body.endswith(b" " * 10), got.error
    finally:
        await f.aclose()
