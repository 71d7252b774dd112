"""Link-local and cloud metadata addresses are never contacted, even with private feeds allowed.

NEWSBOT_ALLOW_PRIVATE_FEEDS=1 opens loopback and private ranges (tests, intranets) and nothing
else: 169.254.0.0/16, fe80::/10, fd00:ec2::254 and their IPv4-mapped, NAT64 and integer spellings
are refused at every redirect hop before a socket is opened, and refused where feeds are added
(`feeds add`, `feeds import`, `/news feeds add`) with the reason the fetcher would give.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from bot.net.fetch import SafeFetcher, url_refusal
from tests.feedfarm import FarmFeed, FeedFarm, farm_items
from tests.reliability.helpers import NEWSBOT, ROOT, bot_env, cli, opml

METADATA_FORMS = [
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata address 169.254.169.254"),
    ("http://[::ffff:169.254.169.254]/latest/", "cloud metadata address 169.254.169.254"),
    ("http://[::ffff:a9fe:a9fe]/latest/", "cloud metadata address 169.254.169.254"),
    ("http://[64:ff9b::a9fe:a9fe]/latest/", "cloud metadata address 169.254.169.254"),
    ("http://2852039166/latest/", "cloud metadata address 169.254.169.254"),
    ("http://0xa9fea9fe/latest/", "cloud metadata address 169.254.169.254"),
    ("http://0251.0376.0251.0376/latest/", "cloud metadata address 169.254.169.254"),
    ("http://169.254.1.1/", "link-local address 169.254.1.1"),
    ("http://[fe80::1]/", "link-local address fe80::1"),
    ("http://[fd00:ec2::254]/", "cloud metadata address fd00:ec2::254"),
]


@pytest.mark.parametrize(("url", "reason"), METADATA_FORMS)
def test_link_local_and_metadata_are_refused_even_with_private_allowed(url: str, reason: str) -> None:
    assert url_refusal(url, allow_private=True) == f"refused: resolves to {reason}"
    assert url_refusal(url, allow_private=False) == f"refused: resolves to {reason}"


def test_allow_private_opens_loopback_and_private_only() -> None:
    for url in ("http://127.0.0.1:8080/feed", "http://10.0.0.5/rss", "http://[::1]/", "http://2130706433/"):
        assert url_refusal(url, allow_private=True) is None, url
        assert url_refusal(url, allow_private=False) is not None, url
    assert url_refusal("http://0.0.0.0/", allow_private=True) == "refused: resolves to unspecified address 0.0.0.0"


async def test_a_redirect_to_metadata_is_refused_before_connecting(tmp_path: Path) -> None:
    resolved: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return {"metadata.test": ["169.254.169.254"], "linklocal6.test": ["fe80::1"]}[host]

    fetcher = SafeFetcher(user_agent="t", timeout_s=5, max_body_bytes=1 << 20, per_host_concurrency=2,
                          allow_private=True, resolver=resolver)
    async with FeedFarm() as farm:
        farm.put("ok", FarmFeed(title="ok", items=farm_items("ok", 1)))
        try:
            assert (await fetcher.get(farm.url("/feeds/ok"))).ok  # loopback is open
            # (httpx itself rejects the octal spelling in a Location header: no connect either.)
            targets = [u for u, _ in METADATA_FORMS if "0251" not in u]
            targets += ["http://metadata.test/latest/", "http://linklocal6.test/x"]
            for target in targets:
                got = await fetcher.get(farm.url(f"/h/redirect?to={quote(target, safe='')}"))
                assert got.error is not None and got.error.startswith("refused: resolves to "), (target, got.error)
                assert got.status == 302 and "/h/redirect" not in got.url  # the next hop was refused
        finally:
            await fetcher.aclose()
    # Names were resolved (and their answers refused); literal forms never reached the resolver.
    assert resolved == ["metadata.test", "linklocal6.test"]


def test_feeds_add_import_and_ask_refuse_metadata_with_the_fetchers_reason(tmp_path: Path) -> None:
    config = tmp_path / "newsbot.yaml"
    config.write_text(yaml.safe_dump({"feeds": []}))
    env = bot_env(f"sqlite:///{tmp_path}/newsbot.db", config, 0)  # NEWSBOT_ALLOW_PRIVATE_FEEDS=1
    for url, reason in METADATA_FORMS[:5]:
        proc = subprocess.run([NEWSBOT, "feeds", "add", url], env=env, cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert f"refused: resolves to {reason}" in " ".join(proc.stderr.replace("│", " ").split())
    (tmp_path / "feeds.opml").write_bytes(opml(["http://127.0.0.1:9/feed", "http://2852039166/latest/"]))
    proc = subprocess.run([NEWSBOT, "feeds", "import", str(tmp_path / "feeds.opml")], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "http://2852039166/latest/: refused: resolves to cloud metadata address 169.254.169.254" in proc.stderr
    assert "added=1" in proc.stdout and "refused=1" in proc.stdout
    listed = [json.loads(line)["url"] for line in cli(env, "feeds", "list", "--json").stdout.splitlines()]
    assert listed == ["http://127.0.0.1:9/feed"]
    proc = subprocess.run([NEWSBOT, "ask", "feeds add http://[fd00:ec2::254]/latest"], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "refused: resolves to cloud metadata address fd00:ec2::254" in proc.stdout


async def test_ingest_reports_a_feed_redirecting_to_metadata_as_refused(tmp_path: Path) -> None:
    async with FeedFarm() as farm:
        config = tmp_path / "newsbot.yaml"
        bad = farm.url("/h/redirect?to=" + quote("http://[::ffff:169.254.169.254]/latest/meta-data/", safe=""))
        config.write_text(yaml.safe_dump({"feeds": [{"url": bad}]}))
        env = bot_env(f"sqlite:///{tmp_path}/newsbot.db", config, 0)
        stats = json.loads((await asyncio.to_thread(cli, env, "ingest", "--once", "--json")).stdout)
    assert stats["failed"] == 1
    assert stats["failures"][0]["reason"] == "refused: resolves to cloud metadata address 169.254.169.254"
