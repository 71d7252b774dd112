"""Fuzzing the bot's inputs: anything typed after `/news`, any search syntax, hostile feeds.

Properties, on both databases: the command core answers every text without an internal error
(a usage reply is fine, a traceback is not); search either answers or refuses with QueryError,
never with a database syntax error; hostile feeds fail one by one with a clear reason while the
good feed beside them is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.archive.seed import load_seeds
from bot.chat.messages import Context, Result, Usage
from bot.commands.core import handle
from bot.commands.handlers import Deps
from bot.commands.parser import Command, parse
from bot.config import AppConfig
from bot.runtime.metrics import value
from bot.store.db import make_engine, session_factory
from bot.store.search import search
from bot.store.search.query import QueryError, parse_query
from tests.conftest import SEEDS
from tests.feedfarm import FarmFeed, FeedFarm, farm_items
from tests.reliability.helpers import bot_env, cli

SUBCOMMANDS = ["search", "quotes", "figure", "digest", "subscribe", "unsubscribe", "feeds", "status", "help", "", "/news"]
NASTY = [
    '"', "'", "-", "--", "OR", "AND", "NOT", "NEAR", "NEAR/2", "*", "^", "(", ")", ":", "topic:", "source:",
    "since:", "before:", "since:7d", "since:99999999d", "before:2025-13-45", "topic:nato", '"unclosed', "-rutte",
    "\x00", "\u200b", "💥", "Рютте", "ß", "İ", "؟", "\\", "%", "_", "';--", "{}", "[]", "<b>", "&amp;", "\n", "\t",
]
token = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.from_regex(r"[a-z]{1,10}", fullmatch=True))
command_text = st.one_of(
    st.text(max_size=200),
    st.builds(lambda sub, toks: " ".join([sub, *toks]), st.sampled_from(SUBCOMMANDS), st.lists(token, max_size=8)),
)
query_text = st.one_of(st.text(max_size=120), st.lists(token, max_size=10).map(" ".join))


def test_parser_never_raises() -> None:
    @settings(max_examples=300, deadline=None)
    @given(command_text)
    def check(text: str) -> None:
        got = parse(text)
        assert isinstance(got, Command | Usage)

    check()


def test_query_parser_refuses_only_with_query_error() -> None:
    @settings(max_examples=300, deadline=None)
    @given(query_text)
    def check(text: str) -> None:
        with contextlib.suppress(QueryError):
            parse_query(text)

    check()


def test_commands_and_search_on_the_real_database(db_url: str, app_config: AppConfig) -> None:
    """Random `/news` texts and search queries against a seeded archive: no internal errors."""
    loop = asyncio.new_event_loop()
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    deps = Deps.build(sessions, app_config)
    ctx = Context(platform="console", channel_id="console", user_id="fuzzer", is_admin=True)
    try:
        loop.run_until_complete(load_seeds(sessions, SEEDS, app_config))

        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
        @given(command_text, query_text)
        def check(text: str, query: str) -> None:
            errors_before = value("newsbot_command_errors_total")
            result = loop.run_until_complete(handle(text, ctx, deps))
            assert isinstance(result, Result)
            assert value("newsbot_command_errors_total") == errors_before, f"internal error for {text!r}: {result.text}"

            async def run_search() -> None:
                async with sessions() as s:
                    with contextlib.suppress(QueryError):
                        await search(s, query, limit=5)

            loop.run_until_complete(run_search())

        check()
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


async def test_hostile_feeds_fail_one_by_one_and_the_good_one_is_stored(tmp_path: Path) -> None:
    async with FeedFarm(slow_s=10) as farm:
        good = farm.put("good", FarmFeed(title="Good", items=farm_items("good", 3)))
        urls = [good, *(farm.url(p) for p in FeedFarm.HOSTILE_PATHS), farm.url("/h/gzip-bomb"), farm.url("/h/xxe")]
        config = tmp_path / "newsbot.yaml"
        config.write_text(yaml.safe_dump({
            "feeds": [{"url": u, "full_text": "never"} for u in urls],
            "ingest": {"timeout_s": 3, "max_body_bytes": 2_000_000},
        }))
        env = bot_env(f"sqlite:///{tmp_path}/n.db", config, 0)
        proc = await asyncio.to_thread(cli, env, "ingest", "--once", "--json", timeout=120)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["fetched"] >= 1 and stats["new"] == 3
    reasons = {f["url"]: f["reason"] for f in stats["failures"]}
    assert good not in reasons
    hostile = [u for u in urls if u != good and "/h/html-alt" not in u]  # html-alt may lead to a real feed
    for u in hostile:
        assert u in reasons and reasons[u].strip(), f"{u} was not reported as failed: {stats}"
    counts = json.loads((await asyncio.to_thread(cli, env, "stats", "--json")).stdout)
    assert counts["articles"] == 3


@pytest.mark.parametrize("text", ["", " ", "/news", "search", 'search "', "quotes \x00", "subscribe topic:" + "x" * 5000])
def test_edge_texts_parse(text: str) -> None:
    assert isinstance(parse(text), Command | Usage)
