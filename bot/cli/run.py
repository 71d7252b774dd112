"""`newsbot run`: the long-running bot (see `bot/app.py` for what it wires)."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import typer

from bot.cli.base import _state, run_async, runtime

ROLES = ("all", "ingester", "chat")  # scale-out runs ingesters apart from the chat process


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        role: str = typer.Option(
            "all", "--role", help="all | ingester (poll feeds only) | chat (adapters, delivery, digests; no polling)"
        ),
    ) -> None:
        """Scheduler, ingester and every configured adapter, until SIGTERM/SIGINT."""
        if role not in ROLES:
            raise typer.BadParameter(f"must be one of {', '.join(ROLES)}", param_hint="--role")
        from bot.app.run import choose_platforms, run_app

        rt = runtime()  # a wrong setting stops here, with one line naming the key
        if not _state["debug"]:
            logging.getLogger().setLevel(logging.INFO)
            for noisy in ("apscheduler", "aiohttp.access", "httpx", "httpcore", "alembic", "trafilatura"):
                logging.getLogger(noisy).setLevel(logging.WARNING)

        if role != "ingester" and choose_platforms(rt.settings) == ["console"] and sys.stdin.isatty() \
                and sys.stdout.isatty():
            console_logging(rt.settings.database_url)

        async def go() -> None:
            await run_app(rt.settings, rt.config, role=role)

        run_async(go)


def log_path(database_url: str) -> Path:
    """Where an interactive console's logs go: beside a SQLite archive, else the temp directory."""
    if database_url.startswith("sqlite:///"):
        db = Path(database_url.removeprefix("sqlite:///"))
        if db.parent.is_dir():
            return db.parent / "newsbot.log"
    return Path(tempfile.gettempdir()) / "newsbot.log"


def console_logging(database_url: str) -> Path:
    """Someone is typing at the console: every log line goes to a file (its path said once) and only
    warnings reach the screen, so no log line lands inside a reply."""
    from bot.runtime.logs import configure_logging

    path = log_path(database_url)
    stream = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - the process's log, open until exit
    handler = configure_logging(json=False, stream=stream, level=logging.INFO)
    on_screen = logging.StreamHandler(sys.stderr)
    on_screen.setLevel(logging.WARNING)
    on_screen.setFormatter(handler.formatter)
    logging.getLogger().addHandler(on_screen)
    for noisy in ("apscheduler", "aiohttp.access", "httpx", "httpcore", "alembic", "trafilatura"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    print(f"logs: {path} (warnings are shown here too)", file=sys.stderr)
    return path
