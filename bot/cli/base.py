"""What every `newsbot` command group shares: the typer app, the runtime (settings, config) and
an opened database, one-line failures, JSON output."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import typer

from bot.chat.channels import apply_config
from bot.config import AppConfig, Settings, load_config, load_settings
from bot.store.db import make_engine, session_factory, sqlite_read_only
from bot.store.migrate import upgrade

T = TypeVar("T")

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="newsbot: newsroom monitoring for Slack and Discord."
)

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
    from bot.runtime.logs import configure_logging  # JSON off a terminal, secrets redacted

    _state["debug"] = debug
    configure_logging(debug=debug, level=logging.DEBUG if debug else logging.WARNING)
