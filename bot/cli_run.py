"""`newsbot run`: the long-running bot (replaced piece by piece as chat and ingestion land)."""

from __future__ import annotations

import asyncio
import sys

import typer

from bot.cli import opened, run_async, runtime
from bot.store.search import search


def register(app: typer.Typer) -> None:
    @app.command()
    def run() -> None:
        """Scheduler, ingester and every configured adapter, until SIGTERM/SIGINT."""
        rt = runtime()

        async def go() -> None:
            async with opened(rt) as (_, sessions):
                typer.echo("newsbot console: type `search WORDS` or `help`; Ctrl-D to quit")
                loop = asyncio.get_running_loop()
                while True:
                    line = await loop.run_in_executor(None, sys.stdin.readline)
                    if not line:
                        return
                    words = line.strip().removeprefix("/news").strip()
                    if words.startswith("search "):
                        async with sessions() as s:
                            page = await search(s, words[7:])
                        for h in page.hits:
                            typer.echo(f"- {h.title} ({h.published:%Y-%m-%d})" if h.published else f"- {h.title}")
                        if not page.hits:
                            typer.echo("no matches")
                    elif words:
                        typer.echo("commands: search WORDS")

        run_async(go)
