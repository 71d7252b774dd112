"""The `newsbot` command: a thin shell over the same functions the bot runs.

Exit status: 0 on success, 2 on a usage error, 1 on any other failure with one line on stderr
(no traceback unless --debug).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from bot.chat.channels import apply_config
from bot.config import AppConfig, ConfigError, Settings, load_config, load_settings
from bot.store.db import make_engine, one_line_error, session_factory, sqlite_read_only
from bot.store.migrate import upgrade

T = TypeVar("T")
MAX_OFFSET = 10_000  # deeper pages are a query to narrow, and larger numbers overflow the database's integers

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="newsbot: newsroom monitoring for Slack and Discord."
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")

_state: dict[str, bool] = {"debug": False}


class Failure(Exception):
    """A failure to report as one line and exit 1."""


@dataclass
class Runtime:
    settings: Settings
    config: AppConfig


def runtime() -> Runtime:
    settings = load_settings()
    return Runtime(settings, load_config(settings.config))


@asynccontextmanager
async def opened(rt: Runtime, migrate: bool = True) -> Any:
    """An engine on the configured database, schema brought up to date and the config's channels
    and subscriptions applied first: every command that writes or alerts decides against the
    YAML as it is now, whether or not `newsbot run` has ever started."""
    engine = make_engine(rt.settings.database_url)
    try:
        sessions = session_factory(engine)
        if migrate and not sqlite_read_only(rt.settings.database_url):  # a read-only file is read as it is
            await upgrade(engine)
            await apply_config(sessions, rt.config)
        yield engine, sessions
    finally:
        await engine.dispose()


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


def echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, default=str))


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs.")) -> None:
    from bot.runtime.logs import configure_logging  # JSON off a terminal, secrets redacted (issue #8)

    _state["debug"] = debug
    configure_logging(debug=debug, level=logging.DEBUG if debug else logging.WARNING)


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


def _register_optional() -> None:
    """Subsystems add their own commands in their own modules (one file each, no edits here)."""
    import importlib

    for name in ("bot.cli.run", "bot.cli.extract", "bot.cli.feeds", "bot.cli.chat", "bot.cli.backup"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_register_optional()


def main() -> None:
    try:
        app()  # standalone: usage errors print a usage line and exit 2
    except (ConfigError, Failure) as exc:
        typer.echo(f"newsbot: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except DBAPIError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"newsbot: database error: {one_line_error(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:
        if _state["debug"]:
            raise
        typer.echo(f"newsbot: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
