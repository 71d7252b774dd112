"""Canonical article URLs, so one story reached through different links is stored once.

Tracking parameters (`utm_*`, fbclid, gclid, …) and fragments say nothing about which page it is;
hosts are case-insensitive; default ports are noise. Pure functions.

Not courlan's normalize_url: 8-9x slower a URL, and it sorts the query (a stored article's key would
change), keeps `ocid`/`smid`/`rss`, and passes `javascript:` links through (benchmarks/libraries.py).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
        "ito",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "rss",
        "ref_src",
        "smid",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt.mc_id",
        "__twitter_impression",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "_hs")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SLASHES = re.compile(r"/{2,}")


def is_tracking_param(name: str) -> bool:
    low = name.lower()
    return low in _TRACKING_EXACT or low.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str, base: str | None = None) -> str | None:
    """The URL an article is known by: absolute, http(s), no tracking or fragment, host lowercased.

    Returns None for anything that is not an http(s) URL (javascript:, mailto:, garbage), so a
    hostile feed cannot make us store or later fetch such a link.
    """
    url = (url or "").strip()
    if not url:
        return None
    if (m := _PLAIN_URL.fullmatch(url)) is not None and (not base or _join_cannot_fail(base)):
        return _plain_canonical(*m.groups())
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    query = ""
    if parts.query:  # most links have none; parsing and re-encoding nothing is still dear
        query = urlencode(
            [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)], doseq=True
        )
    path = parts.path
    if "//" in path:
        path = _SLASHES.sub("/", path)
    path = path or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


# The common link: absolute http(s), lower-case host without port or user, a path and query of
# unreserved characters only. For it, joining with any base gives the URL back, splitting it is
# plain string work, and parse_qsl/urlencode are identities on each name=value pair, so
# `_plain_canonical` is what the general path computes (tests compare the two on generated URLs).
_PLAIN_URL = re.compile(r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(/[A-Za-z0-9._~%/-]*)?(?:\?([A-Za-z0-9._~=&-]*))?")


def _join_cannot_fail(base: str) -> bool:
    """urljoin parses the base first: it raises only on brackets or a non-ASCII host."""
    return base.isascii() and "[" not in base and "]" not in base


def _plain_canonical(scheme: str, host: str, path: str | None, query: str | None) -> str:
    path = path or "/"
    if "//" in path:
        path = _SLASHES.sub("/", path)
    out = f"{scheme}://{host}{path}"
    if query:
        pairs = []
        for pair in query.split("&"):
            if not pair:
                continue  # parse_qsl skips empty fields
            name, _, value = pair.partition("=")
            if not is_tracking_param(name):
                # a field without "=" comes back as "name="; urlencode escapes a later "="
                pairs.append(f"{name}={value.replace('=', '%3D')}")
        if pairs:
            out = f"{out}?{'&'.join(pairs)}"
    return out


def host_of(url: str) -> str:
    """Lower-cased host of a URL ('' when it has none): the key for per-host limits."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def feed_url_ok(url: str) -> bool:
    """A URL we would poll: absolute http(s) with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
