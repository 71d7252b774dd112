"""The console as a person uses it: `newsbot run` with no chat token, on a pseudo-terminal (pexpect).

A transcript: the log file's path said once, a prompt, replies with no log line inside them, the
empty-digest hint that says what to try, the one-line cycle summary in the log file, Ctrl-D quits.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pexpect
import pytest
import yaml

from tests.reliability.helpers import NEWSBOT, ROOT, bot_env, free_port
from tests.test_commands import seeded_sqlite

__all__ = ["seeded_sqlite"]  # the seeded archive fixture, shared with test_commands

PROMPT = "news> "
# What a log line looks like in either renderer: a timestamp and level, or a JSON record.
LOG_LINE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}.*\[(info|debug|warning)|\{\"(event|level)\")", re.M)


@pytest.fixture
def console_env(tmp_path: Path, seeded_sqlite: Path) -> dict[str, str]:
    db = tmp_path / "data" / "newsbot.db"
    db.parent.mkdir()
    shutil.copy(seeded_sqlite, db)
    config = yaml.safe_load((ROOT / "config" / "newsbot.yaml").read_text())
    config["feeds"] = []  # no network: the seeded archive is all there is
    path = tmp_path / "newsbot.yaml"
    path.write_text(yaml.safe_dump(config))
    env = bot_env(f"sqlite:///{db}", path, free_port(), HOME=str(tmp_path), TERM="dumb")
    return env


def test_console_transcript_prompt_quiet_logs_and_empty_digest_hint(console_env: dict[str, str], tmp_path: Path) -> None:
    child = pexpect.spawn(NEWSBOT, ["run"], env=console_env, cwd=str(ROOT), encoding="utf-8", timeout=60,
                          dimensions=(40, 200))
    transcript: list[str] = []
    try:
        child.expect(r"logs: (\S+newsbot\.log)")
        log_file = Path(child.match.group(1))
        transcript.append(child.before + child.after)
        assert log_file == tmp_path / "data" / "newsbot.log"
        child.expect_exact(PROMPT)
        transcript.append(child.before)

        child.sendline("digest")
        child.expect_exact(PROMPT)
        reply = child.before
        transcript.append(reply)
        assert "No new stories in 24h; the newest is from 20" in reply, reply
        assert "`/news digest since:" in reply
        assert not LOG_LINE.search(reply), reply

        child.sendline("quotes rutte")
        child.expect_exact(PROMPT)
        reply = child.before
        transcript.append(reply)
        assert "Quotes: Mark Rutte" in reply and not LOG_LINE.search(reply), reply

        child.sendeof()
        child.expect(pexpect.EOF)
        transcript.append(child.before)
    finally:
        child.close(force=True)
    everything = "".join(transcript)
    assert everything.count("logs: ") == 1
    assert not LOG_LINE.search(everything), everything
    logged = log_file.read_text(encoding="utf-8")
    assert "ingest cycle: 0 feeds fetched, 0 not modified, 0 new, 0 updated in " in logged, logged[-2000:]
    assert "{'fetched'" not in logged
    assert (tmp_path / ".newsbot_history").read_text().split()[-2:] == ["quotes", "rutte"]
