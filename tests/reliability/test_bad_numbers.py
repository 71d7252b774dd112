"""Numbers out of range are usage errors (exit 2, one line), never an overflow deep in a driver;
a Slack request whose timestamp is not a number is refused like any unsigned one (401)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestServer

from adapters.slack import SlackAdapter
from bot.app.http import make_app
from bot.chat.messages import Context, Result
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.reliability.helpers import NEWSBOT, ROOT, bot_env
from tests.test_slack_adapter import SECRET, command_body, post_signed, sign

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ("feeds", "remove", HUGE),
        ("feeds", "remove", "#" + HUGE),
        ("feeds", "remove", "not a url"),
        ("search", "nato", "--offset", HUGE),
        ("search", "nato", "--offset", "1e20"),
        ("search", "nato", "--offset", "-1"),
        ("search", "nato", "--limit", HUGE),
        ("search", "nato", "--limit", "0"),
        ("ask", f"feeds remove {HUGE}"),
        ("ask", f"feeds remove #{HUGE}"),
        ("ask", f"search nato page:{HUGE}"),
        ("digest", "--print", "--since", f"{HUGE}h"),
    ],
    ids=lambda a: " ".join(a),
)
def test_numbers_out_of_range_are_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    config = tmp_path / "newsbot.yaml"
    config.write_text(yaml.safe_dump({"feeds": []}))
    env = bot_env(f"sqlite:///{tmp_path}/newsbot.db", config, 0)
    proc = subprocess.run([NEWSBOT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 2), proc.stderr  # page:N past the end is just an empty page
    if args[-1].startswith("search nato page:"):
        return
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Overflow" not in proc.stderr + proc.stdout


async def _no_commands(text: str, ctx: Context) -> Result:
    return Result(kind="help", title="ok")


@pytest.mark.parametrize("stamp", ["soon", "1e9", "", "12345678901234567890", "١٧٠٠٠٠٠٠٠٠"])
async def test_slack_timestamp_that_is_not_a_number_gets_401(stamp: str) -> None:
    fake = await FakeSlack().start()
    adapter = SlackAdapter(bot_token=BOT_TOKEN, signing_secret=SECRET, api_url=fake.api_url)

    async def health() -> dict[str, str]:
        return {"status": "ok"}

    server = TestServer(make_app(health, adapter.http_routes()), host="127.0.0.1")
    await server.start_server()
    await adapter.start(_no_commands)
    try:
        url = str(server.make_url("/slack/events"))
        body = command_body(fake, "help")
        headers = {**sign(body), "X-Slack-Request-Timestamp": stamp}
        assert (await post_signed(url, body, headers))[0] == 401
        assert (await post_signed(url, body, sign(body)))[0] == 200  # a good one still passes
    finally:
        await adapter.stop()
        await server.close()
        await fake.stop()
