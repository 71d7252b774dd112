"""`newsbot backup PATH`: a consistent copy of the SQLite archive, safe while the bot runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import typer

from bot.cli.base import Failure, runtime


def register(app: typer.Typer) -> None:
    @app.command()
    def backup(path: Path = typer.Argument(..., help="The new file to write the copy to.")) -> None:
        """Back up the SQLite database (online: the bot may keep running). PostgreSQL: use pg_dump."""
        from bot.store.backup import BackupError, backup_sqlite

        rt = runtime()
        try:
            size = backup_sqlite(rt.settings.database_url, path)
        except BackupError as exc:
            raise Failure(str(exc)) from None
        except OSError as exc:
            raise Failure(f"{path}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise Failure(f"backup failed: {exc}") from None
        typer.echo(f"backed up to {path} ({size / 1e6:.1f} MB)")
