"""Engines and sessions for the one database URL that selects SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import QueryableAttribute

BUSY_TIMEOUT_MS = 15_000
CACHED_STATEMENTS = 48  # per SQLite connection: the ingest cycle's hot set (~30) with room to spare


def async_url(url: str) -> str:
    """Accept the plain URLs operators write and pick the async driver for them."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def is_sqlite(url_or_engine: str | AsyncEngine) -> bool:
    name = (
        url_or_engine.dialect.name
        if isinstance(url_or_engine, AsyncEngine)
        else make_url(url_or_engine).get_backend_name()
    )
    return name == "sqlite"


def sqlite_read_only(url: str) -> bool:
    """True for a SQLite file that exists but that this process may not write: it is opened
    read-only, so `search`, `stats` and the other reads work on it (a restored backup, a
    read-only volume) instead of failing on the first write the driver attempts."""
    if not is_sqlite(url):
        return False
    path = make_url(async_url(url)).database
    if not path or path == ":memory:" or path.startswith("file:") or not os.path.exists(path):
        return False
    return not os.access(path, os.W_OK)


def probe_sqlite(url: str, timeout_s: float = 1.0) -> str | None:
    """Why a SQLite file cannot be read right now ("database is locked"), or None: asked with a
    short busy timeout, so a locked file is reported in a second rather than after the engine's
    own 15 s wait. Blocking: run it in a thread. Other backends answer None."""
    if not is_sqlite(url):
        return None
    path = make_url(async_url(url)).database
    if not path or path == ":memory:" or path.startswith("file:") or not os.path.exists(path):
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout_s)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def read_only_params(path: str) -> str:
    """URI parameters to read a file we may not write. A WAL file needs its -shm beside it or a
    folder to create it in; on a read-only volume with neither, nobody can be writing it, so it
    is opened as immutable."""
    shm = Path(f"{path}-shm")
    if not shm.exists() and not os.access(Path(path).parent, os.W_OK):
        return "mode=ro&immutable=1"
    return "mode=ro"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (chat lookups) run while the ingester writes; busy_timeout makes a writer
    # wait for the lock instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    with contextlib.suppress(Exception):  # a read-only file keeps the journal mode it has
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    aurl = async_url(url)
    if is_sqlite(aurl):
        path = make_url(aurl).database
        # A connection keeps its prepared statements (sqlite3's default: 128) and each costs SQLite
        # memory: the article INSERT with its search and day triggers alone is hundreds of KB. The
        # ingester runs ~30 statements over and over; the rest (migrations, startup) run once.
        connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_MS / 1000, "cached_statements": CACHED_STATEMENTS}
        if sqlite_read_only(url):
            assert path is not None
            aurl = f"sqlite+aiosqlite:///file:{Path(path).resolve()}?{read_only_params(path)}&uri=true"
        elif path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(aurl, connect_args=connect_args, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 5)
    engine = create_async_engine(aurl, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine.sync_engine.pool, "checkout", _drop_if_closed)
    return engine


def _drop_if_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed is replaced at checkout, with no round trip.

    Why not SQLAlchemy's `pool_pre_ping`: with asyncpg it pings as `BEGIN; ; ROLLBACK`, a
    transaction open across two round trips at every checkout, so each ingester's backends
    spend that long "idle in transaction" (a third of them with four ingesters on two cores).
    When PostgreSQL restarts or kills a backend, it closes the socket and the driver, which reads
    it all the time on the event loop, marks the connection closed: that state is what a ping
    would find. Raising `DisconnectionError` makes the pool discard it and connect afresh. A
    connection that fails later, in use, is a disconnect error: SQLAlchemy then invalidates every
    connection of the pool, and the caller's unit of work fails and runs again on its next turn
    (tests/reliability/test_db_outage.py restarts the server under working ingesters)."""
    driver = getattr(dbapi_conn, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if callable(is_closed) and is_closed():
        raise DisconnectionError("the database closed this connection")


def one_line_error(exc: BaseException) -> str:
    """A database failure as one line, without the SQL and parameters SQLAlchemy appends to its
    messages (they may hold article text or tokens; `--debug` shows the whole traceback)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.asynccontextmanager
async def one_by_one(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for statements that are each whole on their own (a conditional claim, a
    one-row update): on PostgreSQL each commits as it runs (autocommit), so the backend never
    sits "idle in transaction" between them while Python works; elsewhere (SQLite, one writer)
    they share one transaction, committed at the end, as `sessions.begin()` would."""
    bind = sessions.kw.get("bind")
    async with sessions() as session:
        if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session
        else:
            async with session.begin():
                yield session


async def insert_returning_ids(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert `rows` into a table with an integer `id` key; their new ids, in order, in one or two statements.

    Why not `INSERT … RETURNING` with `sort_by_parameter_order`: SQLite does not promise RETURNING
    order for a multi-row INSERT, so SQLAlchemy falls back to one INSERT per row (a round trip
    to the driver thread per article). On SQLite the first row's INSERT takes
    the database's single write lock and gets the next rowid; no other writer can add rows until
    commit, so the rest take the following ids and go in as one executemany. PostgreSQL orders
    RETURNING itself in batched INSERTs.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        given = tuple(rows[0])
        defaults = _python_defaults(table, given)
        names = given + tuple(defaults)
        stmt = _unnest_insert(table, names, dialect)
        params = {f"p{i}": [row[n] for row in rows] for i, n in enumerate(given)}
        params |= {f"p{len(given) + i}": [value] * len(rows) for i, value in enumerate(defaults.values())}
        return sorted((await session.execute(stmt, params)).scalars().all())
    if dialect.name != "sqlite":
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list((await session.execute(stmt, list(rows))).scalars().all())
    one, many = _inserts(table)
    first = int((await session.execute(one, rows[0])).scalar_one())
    rest = [{**row, "id": first + i} for i, row in enumerate(rows[1:], start=1)]
    if rest:
        await session.execute(many, rest)
    return [first + i for i in range(len(rows))]


def _python_defaults(table: Table, given: tuple[str, ...]) -> dict[str, Any]:
    """The Python-side defaults (`default=`) of the columns the rows leave out, as an ORM or Core
    insert would fill them in; the server's own defaults apply to the rest."""
    out: dict[str, Any] = {}
    for c in table.columns:
        d = c.default
        if c.name in given or d is None or not hasattr(d, "arg"):
            continue
        if getattr(d, "is_scalar", False):
            out[c.name] = d.arg
        elif getattr(d, "is_callable", False):
            out[c.name] = d.arg(None)
    return out


_UNNESTS: dict[tuple[Table, tuple[str, ...]], Any] = {}


def _unnest_insert(table: Table, names: tuple[str, ...], dialect: Dialect) -> Any:
    """`INSERT … SELECT … FROM unnest(one array per column) … RETURNING id` (PostgreSQL): the
    same SQL text whatever the number of rows, built once per column set.

    Why not SQLAlchemy's batched `INSERT … VALUES (…), (…)`: its text changes with the row
    count, so asyncpg prepares it afresh at nearly every batch (a round trip more inside the
    ingest transaction) and the variants push the hot statements out of its per-connection
    cache. Rows are inserted in array order, drawing their ids from the sequence as they go (the
    ordering SQLAlchemy's own `sort_by_parameter_order` relies on), so the ids, sorted, are the
    rows' in order."""
    key = (table, names)
    if key not in _UNNESTS:
        quote = dialect.identifier_preparer.quote
        cols = [table.c[n] for n in names]
        listed = ", ".join(quote(n) for n in names)
        arrays = ", ".join(f"CAST(:p{i} AS {c.type.compile(dialect=dialect)}[])" for i, c in enumerate(cols))
        alias = ", ".join(f"c{i}" for i in range(len(cols)))
        sql = (
            f"INSERT INTO {quote(table.name)} ({listed}) SELECT {alias} FROM unnest({arrays})"
            f" WITH ORDINALITY AS u({alias}, ord) ORDER BY ord RETURNING id"
        )
        params = [bindparam(f"p{i}", type_=ARRAY(c.type)) for i, c in enumerate(cols)]
        _UNNESTS[key] = text(sql).bindparams(*params).columns(table.c.id)
    return _UNNESTS[key]


_INSERTS: dict[Table, tuple[Any, Any]] = {}


def _inserts(table: Table) -> tuple[Any, Any]:
    """The table's `INSERT … RETURNING id` (one row) and plain `INSERT` (many), built once: a
    statement object reused keeps its cache key, which SQLAlchemy otherwise derives per call."""
    if table not in _INSERTS:
        _INSERTS[table] = (insert(table).returning(table.c.id), insert(table))
    return _INSERTS[table]


def one_of(column: ColumnElement[Any] | QueryableAttribute[Any], values: Sequence[Any], dialect: str) -> ColumnElement[bool]:
    """`column IN (values)` as ONE bound parameter however many values: a JSON array read by
    `json_each` on SQLite, an array on PostgreSQL.

    Why: an IN list of n values is n placeholders that SQLAlchemy renders afresh on every
    execution, a large share of the event loop's time for a batch's story band keys, and SQLite
    itself answers the JSON form faster (each value still found through the column's index).
    Values are ints or strings; JSON keeps 64-bit integers whole.
    """
    values = list(values)
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type), unique=True))
    if dialect == "sqlite":
        listed: Select[Any] = select(literal_column("value")).select_from(
            func.json_each(bindparam(None, json.dumps(values), type_=String, unique=True))
        )
        return column.in_(listed.scalar_subquery())
    return column.in_(values)
