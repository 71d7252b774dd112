"""A SQLite archive on a read-only volume (a restored backup, a replica mounted `ro`) still reads:
`stats`, `search`, `feeds list` and `ask` answer; a write fails with one line and exit 1.

The volume is made read-only for real, with a bind mount in a private mount namespace
(`unshare -m`), so even root cannot write it, as in a container with a `:ro` volume.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.reliability.helpers import NEWSBOT, ROOT, bot_env, cli


def can_mount_read_only() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind -o ro / /mnt 2>/dev/null || mount --bind -o ro /tmp /tmp"],
                           capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not can_mount_read_only(), reason="needs root and unshare to mount a folder read-only")


def read_only(env: dict[str, str], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`newsbot ARGS` with `folder` mounted read-only for that process alone."""
    script = f"mount --bind -o ro {shlex.quote(str(folder))} {shlex.quote(str(folder))} && exec {NEWSBOT} " + " ".join(
        shlex.quote(a) for a in args
    )
    return subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_a_read_only_archive_still_answers_reads_and_refuses_writes_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "newsbot.yaml"
    config.write_text(yaml.safe_dump({"feeds": []}))
    env = bot_env(f"sqlite:///{data}/newsbot.db", config, 0)
    cli(env, "seed")
    articles = json.loads(cli(env, "stats", "--json").stdout)["articles"]

    stats = read_only(env, data, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["articles"] == articles
    search = read_only(env, data, "search", "rutte", "--json")
    assert search.returncode == 0 and json.loads(search.stdout.splitlines()[0])["title"], search.stderr
    assert read_only(env, data, "feeds", "list", "--json").returncode == 0
    ask = read_only(env, data, "ask", "quotes rutte")
    assert ask.returncode == 0 and "Rutte" in ask.stdout, ask.stderr

    write = read_only(env, data, "feeds", "add", "http://127.0.0.1:9/feed")
    assert write.returncode == 1
    assert write.stderr.strip() == "newsbot: database error: attempt to write a readonly database"
