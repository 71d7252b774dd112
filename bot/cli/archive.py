"""`newsbot db upgrade`, `seed`, `search` and `stats`: the archive from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bot.cli.base import Failure, echo_json, opened, run_async, runtime

MAX_OFFSET = 10_000  # deeper pages are a query to narrow, and larger numbers overflow the database's integers


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Create or migrate the schema (Alembic)."""
        rt = runtime()

        async def go() -> None:
            async with opened(rt):
                pass

        run_async(go)
        typer.echo("database is at the latest schema")


    @app.command()
    def seed(directory: Path = typer.Argument(Path("seeds"), help="Folder of seed articles.")) -> None:
        """Load the seed articles into the archive (idempotent)."""
        from bot.archive.seed import load_seeds

        if not directory.is_dir():
            raise Failure(f"seed folder not found: {directory}")
        rt = runtime()

        async def go() -> dict[str, int]:
            async with opened(rt) as (_, sessions):
                return (await load_seeds(sessions, directory, rt.config)).as_dict()

        counts = run_async(go)
        typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


    @app.command()
    def search(
        query: list[str] = typer.Argument(..., help='Words, "phrases", -exclude, OR, topic:, source:, since:, before:'),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per hit."),
        limit: int = typer.Option(10, "--limit", min=1, max=100),
        offset: int = typer.Option(0, "--offset", min=0, max=MAX_OFFSET, help=f"Skip this many hits (at most {MAX_OFFSET})."),
    ) -> None:
        """Full-text search of the archive."""
        from bot.store.search import search as do_search
        from bot.store.search.query import QueryError

        rt = runtime()

        async def go() -> Any:
            async with opened(rt) as (_, sessions), sessions() as session:
                return await do_search(session, " ".join(query), limit=limit, offset=offset)

        try:
            page = run_async(go)
        except QueryError as exc:
            raise typer.BadParameter(str(exc)) from None
        if as_json:
            for h in page.hits:
                echo_json(
                    {
                        "id": h.id,
                        "title": h.title,
                        "outlet": h.outlet,
                        "published": h.published.isoformat() if h.published else None,
                        "url": h.url,
                        "snippet": h.snippet,
                        "topics": list(h.topics),
                        "score": round(h.score, 4),
                    }
                )
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"search: {page.query.describe()}", show_lines=False)
        for col in ("#", "date", "outlet", "title / snippet"):
            table.add_column(col)
        for i, h in enumerate(page.hits, start=offset + 1):
            table.add_row(
                str(i),
                h.published.strftime("%Y-%m-%d") if h.published else "–",
                h.outlet or "–",
                f"[bold]{h.title}[/bold]\n{h.snippet.replace('**', '')}",
            )
        Console().print(table)
        if not page.hits:
            typer.echo("no matches")
        elif page.has_more:
            typer.echo(f"more: --offset {offset + len(page.hits)}")


    @app.command()
    def stats(as_json: bool = typer.Option(False, "--json")) -> None:
        """Archive counts."""
        from bot.archive.status import archive_stats

        rt = runtime()

        async def go() -> dict[str, int]:
            async with opened(rt) as (_, sessions), sessions() as session:
                return await archive_stats(session)

        counts = run_async(go)
        if as_json:
            echo_json(counts)
        else:
            for k, v in counts.items():
                typer.echo(f"{k}: {v}")
