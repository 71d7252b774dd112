"""`newsbot run`: the long-running bot (see `bot/app.py` for what it wires)."""

from __future__ import annotations

import logging

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
        from bot.app.run import run_app

        rt = runtime()  # a wrong setting stops here, with one line naming the key
        if not _state["debug"]:
            logging.getLogger().setLevel(logging.INFO)
            for noisy in ("apscheduler", "aiohttp.access", "httpx", "httpcore", "alembic", "trafilatura"):
                logging.getLogger(noisy).setLevel(logging.WARNING)

        async def go() -> None:
            await run_app(rt.settings, rt.config, role=role)

        run_async(go)
