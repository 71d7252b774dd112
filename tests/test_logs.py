"""Logs: JSON lines off a terminal, readable on one, never a secret, tracebacks only with --debug."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runtime.logs import MASK, add_secret, configure_logging, get_logger, redact, summarize_exception, want_json

ROOT = Path(__file__).resolve().parent.parent
SLACK_BOT = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_APP = "xapp-1-A0123456789-1234567890123-abcdef0123456789abcdef0123456789"
DISCORD = "MTA5ODc2NTQzMjEwOTg3NjU0.GAbCdE.aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789ab"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    yield buf
    for h in list(root.handlers):
        if h not in before[0]:
            root.removeHandler(h)
    root.setLevel(before[1])
    structlog.reset_defaults()


def lines(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_stdlib_and_structlog_records_become_json_lines(stream: io.StringIO) -> None:
    configure_logging(json=True, debug=False, stream=stream)
    logging.getLogger("bot.ingest").info("ingest cycle: %s feeds", 12)
    get_logger("bot.chat.delivery").warning("posted", channel="C1", attempts=2)
    logging.getLogger("bot.ingest").debug("not shown at INFO")
    got = lines(stream)
    assert [g["event"] for g in got] == ["ingest cycle: 12 feeds", "posted"]
    assert got[0]["level"] == "info" and got[0]["logger"] == "bot.ingest"
    assert got[1]["channel"] == "C1" and got[1]["attempts"] == 2 and got[1]["level"] == "warning"
    assert all(str(g["timestamp"]).endswith("Z") for g in got)


def test_tokens_and_url_passwords_never_reach_the_log(stream: io.StringIO) -> None:
    configure_logging(json=True, debug=False, stream=stream)
    log = logging.getLogger("slack_sdk.web")
    log.warning("calling with %s and %s", SLACK_BOT, SLACK_APP)
    log.warning("discord login token=%s", DISCORD)
    log.warning("headers {'Authorization': 'Bot %s'}", DISCORD)
    log.error("could not connect to postgresql+asyncpg://newsbot:s3cr3t-pw@db:5432/newsbot")
    log.error("webhook https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX failed")
    get_logger("bot").info("structured", url="postgresql://u:hunter2hunter2@h/db", extra={"t": [SLACK_BOT]})
    get_logger("bot").info("a secret-named field", signing_secret="abcdef0123456789", api_token="zzzz")
    out = stream.getvalue()
    for secret in (SLACK_BOT, SLACK_APP, DISCORD, "s3cr3t-pw", "XXXXXXXXXXXXXXXX", "hunter2hunter2", "abcdef0123456789", "zzzz"):
        assert secret not in out
    got = lines(stream)
    assert "xoxb-***" in str(got[0]["event"]) and "xapp-***" in str(got[0]["event"])
    assert got[3]["event"] == f"could not connect to postgresql+asyncpg://newsbot:{MASK}@db:5432/newsbot"
    assert got[6]["signing_secret"] == MASK


def test_secret_values_from_the_environment_are_masked_verbatim(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", "postgresql+asyncpg://bot:Pl41nPassw0rd@db/newsbot")
    configure_logging(json=True, debug=False, stream=stream)
    logging.getLogger("x").warning("bad signature for 8f742231b10e8888abcd99yyyzzz85a5 (password Pl41nPassw0rd)")
    out = stream.getvalue()
    assert "8f742231b10e8888abcd99yyyzzz85a5" not in out and "Pl41nPassw0rd" not in out


def _boom() -> None:
    raise ValueError(f"cannot parse {SLACK_BOT}")


def test_exceptions_are_one_line_without_debug_and_full_with_it(stream: io.StringIO) -> None:
    configure_logging(json=True, debug=False, stream=stream)
    try:
        _boom()
    except ValueError:
        logging.getLogger("bot.chat.delivery").exception("row failed")
    got = lines(stream)[-1]
    exc = str(got["exception"])
    assert "\n" not in exc and exc.startswith("ValueError: cannot parse xoxb-***")
    assert "test_logs.py" in exc and "in _boom" in exc and SLACK_BOT not in exc

    configure_logging(json=True, debug=True, stream=stream)
    try:
        _boom()
    except ValueError:
        get_logger("bot").exception("row failed")
    exc = str(lines(stream)[-1]["exception"])
    assert exc.startswith("Traceback (most recent call last):") and "_boom()" in exc and SLACK_BOT not in exc


def test_console_format_is_readable_and_redacted(stream: io.StringIO) -> None:
    configure_logging(json=False, debug=False, stream=stream)
    logging.getLogger("bot.app.http").warning("listening with %s", SLACK_BOT)
    out = stream.getvalue()
    assert "listening with xoxb-***" in out and "[warning" in out and not out.lstrip().startswith("{")


def test_configuring_twice_does_not_double_lines(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    configure_logging(json=True, stream=stream)
    logging.getLogger("bot").warning("once")
    assert len(lines(stream)) == 1


def test_format_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NEWSBOT_LOG_FORMAT", raising=False)
    assert want_json(io.StringIO()) is True
    assert want_json(Tty()) is False
    monkeypatch.setenv("NEWSBOT_LOG_FORMAT", "json")
    assert want_json(Tty()) is True
    monkeypatch.setenv("NEWSBOT_LOG_FORMAT", "console")
    assert want_json(io.StringIO()) is False


def test_summarize_exception_names_the_raise_site() -> None:
    try:
        _boom()
    except ValueError as exc:
        s = summarize_exception(exc)
    assert s.startswith("ValueError:") and "in _boom" in s


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from([SLACK_BOT, SLACK_APP, DISCORD]), st.text())
def test_redaction_hides_a_token_whatever_surrounds_it(before: str, token: str, after: str) -> None:
    out = redact(f"{before} {token} {after}")
    assert token not in out
    assert redact(out) == out  # idempotent


def test_short_exact_secrets_are_ignored() -> None:
    add_secret("abc")  # too short to mask without hiding ordinary words
    assert redact("abc def") == "abc def"


def test_a_fresh_process_logs_json_lines_and_masks_env_tokens(tmp_path: Path) -> None:
    """stderr a pipe, format unset: JSON lines; SLACK_BOT_TOKEN's value masked verbatim."""
    env = {
        **os.environ,
        "NEWSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/n.db",
        "SLACK_BOT_TOKEN": SLACK_BOT,
        "NEWSBOT_LOG_FORMAT": "",
    }
    code = (
        "import logging, sys; from bot.runtime.logs import configure_logging; configure_logging(debug=False);"
        f"logging.getLogger('slack_bolt').warning('token is {SLACK_BOT}')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stderr.strip().splitlines()[-1])
    assert rec["event"] == "token is ***" and SLACK_BOT not in proc.stderr
