"""Safe HTTP for feeds and pages: one shared client, polite and hostile-input-proof.

Why each guard exists:
- SSRF: a feed URL (or any redirect hop) must not reach loopback, private, link-local or cloud
  metadata addresses (NEWSBOT_ALLOW_PRIVATE_FEEDS opens loopback and private ranges, never the
  others). The check happens where the socket is opened: the host is resolved once,
  every address is checked, and the connection goes to a checked address, so DNS rebinding
  (public on the check, private on the connect) has no second lookup to exploit.
- A streamed body cap (decoded bytes, so a gzip bomb is capped too), a total deadline on top of
  httpx's connect/read timeouts, at most N redirects with loop detection.
- Per-host concurrency, conditional GET, Retry-After and Cache-Control max-age, so publishers
  are asked no more than needed.
Expected failures come back as `FetchResult.error` (one line), not as exceptions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import typing
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

# httpx beside the aiohttp that slack-bolt and discord.py need: the guard above is an httpcore network backend (every
# connect of every hop), the pools are per origin; the second stack costs ~2 MB (benchmarks/libraries.py).
import httpcore
import httpx

from bot.text.urls import host_of

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""host, port -> IP addresses. Injectable so tests (and operators with split DNS) can steer it."""

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/html;q=0.5, */*;q=0.3"
)
_MB = 1024 * 1024
# Addresses that are "global" to ipaddress but are metadata endpoints on common clouds.
_METADATA = frozenset({"169.254.169.254", "100.100.100.200", "fd00:ec2::254", "169.254.170.2"})


class FetchRefused(Exception):
    """The URL or an address it resolves to is not one we may connect to (SSRF guard)."""


@dataclass
class FetchResult:
    url: str  # the final URL after redirects
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    not_modified: bool = False
    retry_after_s: float | None = None
    max_age_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Opened by NEWSBOT_ALLOW_PRIVATE_FEEDS (tests, intranets); every other kind is refused always:
# link-local and metadata addresses hand out cloud credentials, and no feed lives there.
OPENABLE = frozenset({"loopback", "private"})


def _embedded_v4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one carries (mapped ::ffff:a.b.c.d, NAT64, 6to4), else itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def address_kind(ip_text: str) -> str | None:
    """What kind of non-public address this is (cloud metadata, link-local, loopback, private,
    ...), or None for a public unicast address."""
    try:
        ip = _embedded_v4(ipaddress.ip_address(ip_text.split("%", 1)[0]))
    except ValueError:
        return "invalid"
    if str(ip) in _METADATA:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def address_refusal(ip_text: str, allow_private: bool = False) -> str | None:
    """Why an address must not be contacted, or None. `allow_private` opens loopback and private
    ranges only: link-local, metadata and the rest stay refused."""
    kind = address_kind(ip_text)
    if kind == "invalid":
        return f"refused: not an IP address {ip_text!r}"
    if kind is None or (allow_private and kind in OPENABLE):
        return None
    ip = _embedded_v4(ipaddress.ip_address(ip_text.split("%", 1)[0]))
    return f"refused: resolves to {kind} address {ip}"


_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)


def _literal_ip(host: str) -> str | None:
    """The IP address a host names literally: dotted, bracketed IPv6, and the integer, octal and
    hex forms resolvers accept (http://2852039166/, http://0xa9fea9fe/, http://0251.0376.0251.0376/)."""
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(host.rstrip("."))))
        except OSError:
            return None
    return None


def url_refusal(url: str, allow_private: bool = False) -> str | None:
    """Why this URL may not be fetched, from the URL alone (scheme, a literal address in any
    form), else None. The same one-line reason as the fetcher's, without a DNS lookup: for
    checking feeds where they are added; names are checked again where the socket is opened."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port
    except ValueError:
        return "refused: not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "refused: only http(s) URLs"
    literal = _literal_ip(parts.hostname)
    return address_refusal(literal, allow_private) if literal else None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


def check_url_allowed(url: str, allow_private: bool) -> str | None:
    """Why this URL may not be fetched (scheme, or a refused address it resolves to), else None.

    Uses the system resolver synchronously: for the CLI and validation. The fetcher itself does
    not rely on this answer; it re-checks the address it actually connects to.
    """
    reason = url_refusal(url, allow_private)
    if reason:
        return reason
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if _literal_ip(host):
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"DNS lookup failed for {host}: {exc.strerror or exc}"
    for info in infos:
        reason = address_refusal(str(info[4][0]), allow_private)
        if reason:
            return reason
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves once, checks every address, connects to a checked one."""

    def __init__(
        self,
        inner: httpcore.AsyncNetworkBackend,
        *,
        allow_private: bool,
        resolver: Resolver,
        exempt_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self._inner = inner
        self._allow_private = allow_private
        self._resolver = resolver
        self._exempt = exempt_hosts

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = _literal_ip(host)
        if literal:
            addresses = [literal]
        else:
            try:
                addresses = await self._resolver(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"DNS lookup failed for {host}: {exc.strerror or exc}") from exc
            if not addresses:
                raise httpcore.ConnectError(f"DNS lookup failed for {host}: no addresses")
        if host.lower() not in self._exempt:
            for addr in addresses:  # one bad answer refuses all: mixed answers are a rebinding trick
                reason = address_refusal(addr, self._allow_private)
                if reason:
                    raise FetchRefused(reason)
        last: Exception | None = None
        for addr in addresses:
            try:
                return await self._inner.connect_tcp(
                    addr, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore interface)
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("refused: unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    m = re.search(r"(?:^|[,\s])(?:s-)?max-age\s*=\s*\"?(\d+)", cache_control, re.IGNORECASE)
    return float(m.group(1)) if m else None


def format_bytes(n: int) -> str:
    if n % _MB == 0:
        return f"{n // _MB} MB"
    if n >= _MB:
        return f"{n / _MB:.1f} MB"
    return f"{n // 1024} KB" if n % 1024 == 0 else f"{n} bytes"


def _fmt_s(s: float) -> str:
    return f"{s:g}"


class PerOriginPools(httpx.AsyncBaseTransport):
    """One httpcore connection pool per origin, the least recently used idle one closed beyond
    `max_origins`, all connecting through one (guarded) network backend.

    Why not httpx's single pool: httpcore closes an idle connection whenever the pool holds more
    connections than its keep-alive limit, busy ones included, and checks every pooled connection
    (a socket poll each) on every request. With 32 feeds in flight, nearly every feed opened a new
    connection, and over HTTPS a new TLS handshake, even when the last feed from the same host had
    just finished with one. Per origin, a host's feeds reuse its connections (the fetcher's per-host
    limit is the pool's size), and a request checks only its own host's.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, *, per_origin: int, max_origins: int) -> None:
        self._backend = backend
        self._per_origin = per_origin
        self._max_origins = max_origins
        self._ssl = httpx.create_ssl_context(trust_env=False)
        self._pools: OrderedDict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = OrderedDict()
        # Requests that have picked their pool and not yet got their response: a pool about to
        # connect for one has no busy connection yet, but must not be closed under it.
        self._starting: Counter[tuple[str, str, int | None]] = Counter()

    def _new(self) -> httpx.AsyncHTTPTransport:
        # trust_env=False: an environment proxy would connect on our behalf and bypass the guard.
        # verify: the one shared context (a new one loads the CA bundle: ~15 ms of CPU per origin).
        transport = httpx.AsyncHTTPTransport(verify=self._ssl, trust_env=False)
        # httpx has no public hook for the network backend; swap in a pool built on the guarded one.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._ssl,
            max_connections=self._per_origin,
            max_keepalive_connections=self._per_origin,
            keepalive_expiry=5.0,
            network_backend=self._backend,
        )
        return transport

    def _idle(self, key: tuple[str, str, int | None]) -> bool:
        connections = self._pools[key]._pool.connections
        return not self._starting[key] and all(c.is_idle() or c.is_closed() for c in connections)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.scheme, request.url.host, request.url.port)
        transport = self._pools.pop(key, None) or self._new()
        self._pools[key] = transport  # the most recently used last
        self._starting[key] += 1
        try:
            if len(self._pools) > self._max_origins:  # close the oldest idle ones (a slow feed may still stream)
                excess = [k for k in self._pools if self._idle(k)][: len(self._pools) - self._max_origins]
                closing = [self._pools.pop(k) for k in excess]  # all taken out before the first await
                for old in closing:
                    await old.aclose()
            return await transport.handle_async_request(request)
        finally:
            self._starting[key] -= 1
            if not self._starting[key]:
                del self._starting[key]

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for transport in pools:
            await transport.aclose()


class SafeFetcher:
    """The one HTTP client for feeds and pages. Create once, share, `aclose()` at shutdown."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout_s: float,
        max_body_bytes: int,
        per_host_concurrency: int,
        allow_private: bool,
        max_redirects: int = 5,
        max_connections: int = 100,
        resolver: Resolver | None = None,
        exempt_hosts: Iterable[str] = (),
    ) -> None:
        self.user_agent = user_agent
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.per_host_concurrency = per_host_concurrency
        self.allow_private = allow_private
        self.max_redirects = max_redirects
        self._host_locks: dict[str, asyncio.Semaphore] = {}
        backend = GuardedBackend(
            httpcore.AnyIOBackend(),
            allow_private=allow_private,
            resolver=resolver or system_resolver,
            exempt_hosts=frozenset(h.lower() for h in exempt_hosts),
        )
        # An origin's pool mostly holds one idle connection: as many origins as connections allowed.
        transport = PerOriginPools(backend, per_origin=per_host_concurrency, max_origins=max_connections)
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,  # followed by hand, so every hop is checked and counted
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            headers={"User-Agent": user_agent},
            trust_env=False,
        )

    def _host_lock(self, host: str) -> asyncio.Semaphore:
        lock = self._host_locks.get(host)
        if lock is None:
            lock = self._host_locks[host] = asyncio.Semaphore(self.per_host_concurrency)
        return lock

    async def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None, accept: str | None = None
    ) -> FetchResult:
        """GET with every guard; never raises for network, HTTP or size problems."""
        state = FetchResult(url=url)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._follow(url, etag, last_modified, accept or DEFAULT_ACCEPT, state)
        except TimeoutError:
            state.error = f"timeout after {_fmt_s(self.timeout_s)} s"
        except FetchRefused as exc:
            state.error = str(exc)
        except httpx.TimeoutException:
            state.error = f"timeout after {_fmt_s(self.timeout_s)} s"
        except httpx.ConnectError as exc:
            state.error = f"connection failed: {exc or type(exc).__name__}"
        except httpx.DecodingError:
            state.error = "bad content encoding"
        except httpx.HTTPError as exc:
            state.error = f"{type(exc).__name__}: {exc}"[:300]
        except (httpcore.ConnectError, OSError) as exc:
            state.error = f"connection failed: {exc or type(exc).__name__}"
        return state

    async def _follow(
        self, url: str, etag: str | None, last_modified: str | None, accept: str, state: FetchResult
    ) -> FetchResult:
        seen: set[str] = set()
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _hop in range(self.max_redirects + 1):
            scheme = urlsplit(url).scheme.lower()
            if scheme not in ("http", "https"):
                state.error = f"refused: {scheme or 'relative'} URL {url[:200]}"
                return state
            seen.add(url)
            state.url = url
            refused = url_refusal(url, self.allow_private)  # every hop, before any connect
            if refused:
                state.error = refused
                return state
            async with self._host_lock(host_of(url)):
                request = self._client.build_request("GET", url, headers=headers)
                response = await self._client.send(request, stream=True)
                try:
                    state.status = response.status_code
                    state.headers = {k.lower(): v for k, v in response.headers.items()}
                    location = response.headers.get("location")
                    if response.status_code in REDIRECT_STATUSES and location:
                        nxt = urljoin(url, location.strip())
                        if nxt in seen:
                            state.error = "redirect loop"
                            return state
                        url = nxt
                        continue
                    return await self._finish(response, state)
                finally:
                    await response.aclose()
        state.error = f"too many redirects (more than {self.max_redirects})"
        return state

    async def _finish(self, response: httpx.Response, state: FetchResult) -> FetchResult:
        status = response.status_code
        state.max_age_s = parse_max_age(response.headers.get("cache-control"))
        if status == 304:
            state.not_modified = True
            return state
        if status in (429, 503) or (status >= 500 and "retry-after" in response.headers):
            state.retry_after_s = parse_retry_after(response.headers.get("retry-after"))
        if status >= 400 or status < 200 or status in REDIRECT_STATUSES:
            reason = f"HTTP {status}"
            if state.retry_after_s is not None:
                reason += f" (retry after {state.retry_after_s:.0f} s)"
            state.error = reason
            return state
        declared = response.headers.get("content-length", "")
        cap = self.max_body_bytes
        if declared.isdigit() and int(declared) > cap and not response.headers.get("content-encoding"):
            state.error = f"body over {format_bytes(cap)} cap"
            return state
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():  # decoded: the cap also bounds compression bombs
            total += len(chunk)
            if total > cap:
                state.error = f"body over {format_bytes(cap)} cap"
                return state
            chunks.append(chunk)
        state.body = b"".join(chunks)
        return state

    async def aclose(self) -> None:
        await self._client.aclose()
