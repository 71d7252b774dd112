"""The `newsbot` command: a thin shell over the same functions the bot runs.

Exit status: 0 on success, 2 on a usage error, 1 on any other failure with one line on stderr
(no traceback unless --debug).
"""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import DBAPIError

from bot.cli import archive, backup, chat, extract, feeds, run
from bot.cli.base import Failure, _state, app
from bot.config import ConfigError
from bot.store.db import one_line_error

for _group in (archive, run, extract, feeds, chat, backup):
    _group.register(app)


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
