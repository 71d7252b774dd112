"""A consistent copy of a live SQLite archive, through SQLite's online backup API.

The bot keeps writing while the copy is made (WAL): the backup API copies pages in steps and
restarts a step when a writer changed a page under it, so the copy is one consistent snapshot,
which a plain `cp` of the file (without its -wal) is not. PostgreSQL has its own tool, pg_dump.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.store.db import async_url, is_sqlite

PAGES_PER_STEP = 1024  # ~4 MB a step: writers get the lock back between steps


class BackupError(Exception):
    """Why no backup was made (one line)."""


def backup_sqlite(url: str, dest: Path) -> int:
    """Copy the SQLite database at `url` to `dest` (a new file); returns its size in bytes."""
    if not is_sqlite(url):
        raise BackupError(
            "backup copies SQLite files; for PostgreSQL use pg_dump, e.g. "
            "pg_dump --format=custom --file=newsbot.dump \"$DATABASE_URL\" (restore with pg_restore)"
        )
    src_path = make_url(async_url(url)).database
    if not src_path or src_path == ":memory:" or not Path(src_path).exists():
        raise BackupError(f"no database file at {src_path}")
    if dest.exists():
        raise BackupError(f"{dest} exists: back up to a new file")
    if not dest.parent.is_dir():
        raise BackupError(f"no such folder: {dest.parent}")
    partial = dest.with_name(dest.name + ".partial")
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=15)
    try:
        out = sqlite3.connect(partial)
        try:
            src.backup(out, pages=PAGES_PER_STEP)
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            ok = out.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            out.close()
    finally:
        src.close()
    if ok != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check: {ok}")
    partial.rename(dest)  # a file at `dest` is always a complete backup
    return dest.stat().st_size
