"""`newsbot run` and `newsbot ask` as subprocesses, the way `make run` and scripts use them."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.test_commands import seeded_sqlite  # noqa: F401  (session fixture: the seeded archive)

# The installed entry point's code path (`python -m bot.cli.main` would import bot.cli.main twice).
NEWSBOT = [sys.executable, "-c", "import sys; from bot.cli.main import main; sys.argv[0] = 'newsbot'; main()"]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEWSBOT, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def env(seeded_sqlite: Path, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    db = tmp_path / "newsbot.db"
    shutil.copy(seeded_sqlite, db)
    cfg = tmp_path / "newsbot.yaml"
    cfg.write_text(
        f"feeds:\n  - url: http://127.0.0.1:{free_port()}/closed.xml\n    topics: [nato]\n"
        "channels:\n  - platform: console\n    id: console\n    alerts: {figures: [Mark Rutte]}\n"
        '    digest: {cron: "0 8 * * *", timezone: UTC, topics: [nato]}\n',
        encoding="utf-8",
    )
    out = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "SLACK_", "DISCORD_"))}
    out.update(NEWSBOT_DATABASE_URL=f"sqlite:///{db}", NEWSBOT_CONFIG=str(cfg), NEWSBOT_ALLOW_PRIVATE_FEEDS="1",
               NEWSBOT_HTTP_HOST="127.0.0.1", NEWSBOT_HTTP_PORT=str(free_port()), PYTHONUNBUFFERED="1")
    return out


def test_ask_quotes_rutte_from_the_seeded_archive(env: dict[str, str]) -> None:
    done = cli("ask", "quotes rutte", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Quotes: Mark Rutte\n")
    assert "1. " in done.stdout and "more: quotes rutte page:2" in done.stdout
    as_json = cli("ask", "--json", "/news quotes the nato chief", env=env)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["kind"] == "quotes" and data["title"] == "Quotes: Mark Rutte" and data["sections"][0]["items"]
    usage = cli("ask", "quotes", env=env)
    assert usage.returncode == 2 and "Usage: quotes FIGURE" in usage.stdout
    assert usage.stderr.count("\n") == 1 and "missing argument" in usage.stderr
    digest = cli("digest", "--print", "--topic", "nato", "--since", "2000d", env=env)
    assert digest.returncode == 0, digest.stderr
    assert digest.stdout.startswith("Digest: nato") and "## NATO" in digest.stdout


class Lines:
    """A subprocess's stdout read on a thread, so the test can wait for a line without blocking forever."""

    def __init__(self, stream: object) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.q.put(line)

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} not printed; got:\n{''.join(self.seen)[-3000:]}")


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_run_serves_console_http_alerts_and_stops_on_sigterm(env: dict[str, str]) -> None:
    port = env["NEWSBOT_HTTP_PORT"]
    proc = subprocess.Popen([*NEWSBOT, "run"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = Lines(proc.stdout)
        out.wait_for("newsbot console")
        status, health = get_json(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and health["status"] == "ok" and health["adapters"] == "console"
        assert proc.stdin is not None
        proc.stdin.write("quotes rutte\n")
        proc.stdin.flush()
        out.wait_for("Quotes: Mark Rutte")
        proc.stdin.write("frobnicate\n")  # bad input: a usage reply, and the bot keeps serving
        proc.stdin.flush()
        out.wait_for("unknown subcommand")
        # An alert written to the outbox (as the statements store does) is printed once.
        db = env["NEWSBOT_DATABASE_URL"].removeprefix("sqlite:///")
        with sqlite3.connect(db, timeout=15) as conn:
            (cid,) = conn.execute("SELECT id FROM channels WHERE platform='console' AND external_id='console'").fetchone()
            payload = {"speaker": "Mark Rutte", "text": "the alliance is ready", "kind": "direct", "outlet": "Reuters",
                       "published": None, "outlets": 3, "title": "Rutte speaks", "url": "https://news.example/r"}
            conn.execute(
                "INSERT INTO deliveries (idempotency_key, channel_id, kind, payload, status, attempts, next_attempt_at,"
                " created_at) VALUES ('alert:test:1', ?, 'alert', ?, 'pending', 0, '2000-01-01 00:00:00.000000',"
                " '2000-01-01 00:00:00.000000')",
                (cid, json.dumps(payload)),
            )
        out.wait_for("Rutte: “the alliance is ready” — Reuters, also reported by 2 outlets")
        # The post is printed before the delivery is recorded and counted: poll for the counter.
        delivered = 'newsbot_deliveries_total{kind="alert",outcome="delivered"} 1.0'
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                metrics = resp.read().decode()
            if delivered in metrics or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert 'newsbot_commands_total{outcome="ok",subcommand="quotes"} 1.0' in metrics
        assert delivered in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in stderr, stderr
    assert "feed failed" in stderr  # offline feeds fail visibly and the bot kept serving
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM deliveries WHERE idempotency_key='alert:test:1'").fetchone() == ("sent",)
