"""Settings: a wrong one stops start-up with one line that names the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, load_settings
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsbot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("feeds:\n  - url: https://x.org/rss\n    topcs: [nato]\n", "feeds.0.topcs: unknown key"),
        ("feeds:\n  - url: ftp://x.org/rss\n", "feeds.0.url: Value error, must be an http(s) URL"),
        ("channels:\n  - {platform: slack, id: C1, digest: {cron: '0 8 * *'}}\n", "channels.0.digest.cron"),
        ("channels:\n  - {platform: slack, id: C1, digest: {timezone: Mars/Olympus}}\n", "unknown time zone"),
        ("channels:\n  - {platform: irc, id: C1}\n", "channels.0.platform"),
        ("figures:\n  - {name: X Y, gender: q}\n", "figures.0.gender"),
        ("colour: blue\n", "colour: unknown key"),
        ("feeds: [\n", "not valid YAML"),
    ],
)
def test_wrong_settings_name_the_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, yaml_text))
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_left_out_sections_take_the_shipped_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "feeds: []\n"))
    assert {"nato", "ukraine", "trump"} <= set(config.topics)
    names = {f.name for f in config.figure_list()}
    assert {"Mark Rutte", "Donald Trump", "Volodymyr Zelensky", "Maria Zakharova"} <= names
    assert config.feeds == [] and config.channels == []


def test_environment_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_HTTP_PORT", "eighty")
    with pytest.raises(ConfigError, match="^NEWSBOT_HTTP_PORT: "):
        load_settings()
    monkeypatch.setenv("NEWSBOT_HTTP_PORT", "8080")
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", "mysql://db")
    with pytest.raises(ConfigError, match="^NEWSBOT_DATABASE_URL: "):
        load_settings()


def test_cli_stops_with_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSBOT_CONFIG": str(write(tmp_path, "feeds:\n  - {url: https://x.org/rss, topcs: []}\n")),
           "NEWSBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"}
    proc = subprocess.run([sys.executable, "-c", "from bot.cli.main import main; main()", "stats"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"newsbot: {tmp_path / 'newsbot.yaml'}: feeds.0.topcs: unknown key"]
    assert "Traceback" not in proc.stderr
