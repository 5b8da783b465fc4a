"""The SQLite connections: one writer guarded by an ``asyncio.Lock``, two readers, and the migrations runner.

The writer runs explicit ``BEGIN IMMEDIATE`` transactions under the lock (aiosqlite would otherwise interleave
another task's statements into ours); WAL lets the readers run while the writer commits. The *reader* serves
the bot's own reads (the sender's outbox, commands' lookups); the *searcher* serves what users can make
expensive — ``/papers search``, previews, backfills — one statement at a time, each stopped after
:data:`~bot.store.search_budget.SEARCH_TIME_BUDGET` seconds by a progress handler, so no search can hold up the
sender or another command's reads. All return rows as ``aiosqlite.Row``, read by column name. Every connection
registers the functions of :mod:`bot.store.fts`, which the papers' search triggers call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store import search_budget
from bot.store.coordination import Coordination
from bot.store.dialect import SQLITE, Dialect
from bot.store.fts import FOLD_VERSION, SQL_FUNCTIONS
from bot.store.migrations import MIGRATIONS, SEARCH_COLUMNS, search_values
from bot.store.postgres.database import PgConnection, PgDatabase
from bot.store.search_budget import SearchTooCostly

log = logging.getLogger(__name__)

_PROGRESS_STEPS = 2000  # SQLite virtual-machine steps between two looks at the clock
# A statement stopped for time has done at least this much work: on a loaded machine a cheap search can take
# longer than the budget (its thread waits for a core), and it is not "too broad" for that. ~20-50 ms of work here.
_MIN_STEPS = 1_000_000


class _Searcher:
    """The searcher connection: one statement at a time, each with a deadline its progress handler enforces."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection
        self.lock = asyncio.Lock()
        self.deadline = math.inf  # read on the connection's thread by the progress handler
        self.steps = 0  # of the running statement, counted on the connection's thread

    def expired(self) -> bool:
        """Whether the running statement is past its deadline, having done real work, or was cancelled (a true
        answer interrupts it)."""
        self.steps += _PROGRESS_STEPS
        if self.deadline == 0.0:
            return True
        return self.steps >= _MIN_STEPS and time.monotonic() > self.deadline

    async def fetchall(self, sql: str, params: Mapping[str, Any], budget: float) -> list[aiosqlite.Row]:
        """All rows of one statement, interrupted (SearchTooCostly) after ``budget`` seconds."""
        async with self.lock:  # the deadline belongs to the one statement running
            self.steps = 0
            self.deadline = time.monotonic() + budget
            try:
                rows = list(await self.connection.execute_fetchall(sql, params))
            except sqlite3.OperationalError as exc:
                self.deadline = math.inf
                if "interrupted" in str(exc):
                    raise SearchTooCostly(f"the search ran past {budget:g} s") from exc
                raise
            except asyncio.CancelledError:
                # Nobody waits for the rows any more, but the statement still runs on the connection's thread:
                # stop it at once.
                self.deadline = 0.0
                raise
            self.deadline = math.inf
            return rows


async def _connect(path: str) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, isolation_level=None)
    connection.row_factory = aiosqlite.Row  # rows are read by column name, never by position
    try:
        for name, function in SQL_FUNCTIONS.items():
            await connection.create_function(name, 1, function, deterministic=True)
        await connection.execute("PRAGMA busy_timeout=5000")
    except BaseException:
        await connection.close()
        raise
    return connection


class SchemaTooNew(Exception):
    """The database was written by a newer paperbot: refuse it rather than run old code on a newer schema."""


class Database:
    """The writer, reader and searcher connections to one database file. Create with :meth:`open`."""

    dialect: Dialect = SQLITE
    coordination = Coordination()

    def __init__(
        self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, searcher: _Searcher, path: str
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._searcher = searcher
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: str) -> Database:
        """Open (creating if needed) the database at ``path`` and apply pending migrations."""
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        readers: list[aiosqlite.Connection] = []
        try:
            # Freed pages can be given back to the file system (a no-op on a database that has tables already:
            # maintenance switches those over once, with a VACUUM).
            await writer.execute("PRAGMA auto_vacuum=INCREMENTAL")
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=FULL")  # delivery state must survive a power cut
            await writer.execute("PRAGMA foreign_keys=ON")
            await _migrate(writer)
            await _refresh_search_tables(writer)
            readers.append(await _connect(path))
            readers.append(await _connect(path))
            searcher = _Searcher(readers[1])
            # The handler runs on the searcher's thread; a true return interrupts the running statement.
            await readers[1].set_progress_handler(searcher.expired, _PROGRESS_STEPS)
        except BaseException:
            for connection in (*readers, writer):
                await connection.close()
            raise
        return cls(writer, readers[0], searcher, path)

    async def close(self) -> None:
        """Close the connections."""
        await self._searcher.connection.close()
        await self._reader.close()
        await self._writer.close()

    async def schema_version(self) -> int:
        """The number of migrations applied."""
        return await _user_version(self._reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer, inside one transaction of its own: committed on exit, rolled back on any exception."""
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

    async def outside_transaction(self, sql: str) -> None:
        """Run a statement that must not run inside a transaction (VACUUM, incremental_vacuum, a checkpoint) on
        the writer, under the lock. As a script, so it runs to completion: ``incremental_vacuum`` executed as a
        statement frees a single page."""
        async with self._lock:
            await self._writer.executescript(sql)

    async def fetchall(self, sql: str, params: Mapping[str, Any] | None = None) -> list[aiosqlite.Row]:
        """All rows of a read on the reader connection."""
        # One call on the connection's thread: run, fetch, finalize. Separate execute/fetch calls from
        # concurrent tasks would interleave, and a statement left open between them holds a read transaction,
        # so every other read on this connection would see the data as it was before the latest commits.
        return list(await self._reader.execute_fetchall(sql, params or {}))

    async def fetchone(self, sql: str, params: Mapping[str, Any] | None = None) -> aiosqlite.Row | None:
        """The first row of a query that returns at most one (by key, or an aggregate)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def search_fetchall(
        self, sql: str, params: Mapping[str, Any] | None = None, budget: float | None = None
    ) -> list[aiosqlite.Row]:
        """All rows of a user's search on the searcher connection; raises :class:`SearchTooCostly` past ``budget``
        seconds (default :data:`~bot.store.search_budget.SEARCH_TIME_BUDGET`)."""
        budget = search_budget.SEARCH_TIME_BUDGET if budget is None else budget
        return await self._searcher.fetchall(sql, params or {}, budget)


async def _user_version(db: aiosqlite.Connection) -> int:
    rows = list(await db.execute_fetchall("PRAGMA user_version"))
    return int(rows[0]["user_version"]) if rows else 0


async def _migrate(db: aiosqlite.Connection) -> None:
    version = await _user_version(db)
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the database has schema version {version} but this paperbot knows only up to {len(MIGRATIONS)}: "
            "it was written by a newer release; run that release, or restore a backup made by this one"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        log.info("applying database migration %d", number)
        await db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")


async def _refresh_search_tables(db: aiosqlite.Connection) -> None:
    """Rebuild the full-text and category tables when the text normalization they hold is not this code's."""
    rows = list(await db.execute_fetchall("SELECT fold_version FROM search_state"))
    if rows and rows[0]["fold_version"] == FOLD_VERSION:
        return
    log.info("building the search index (%s); this reads every stored paper once", FOLD_VERSION)
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('delete-all')")
        await db.execute(f"INSERT INTO papers_fts ({SEARCH_COLUMNS}) SELECT {search_values('p')} FROM papers p")
        await db.execute("DELETE FROM paper_categories")
        await db.execute(
            "INSERT OR IGNORE INTO paper_categories (category, first_seen_at, paper_id) "
            "SELECT paperbot_category(c.value), p.first_seen_at, p.id FROM papers p, json_each(p.categories) c"
        )
        await db.execute("UPDATE search_state SET fold_version = :version", {"version": FOLD_VERSION})
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


# Either driver: the store's queries are written once against what both offer.
AnyDatabase = Database | PgDatabase
Connection = aiosqlite.Connection | PgConnection
Row = Any  # an aiosqlite.Row or an asyncpg.Record: both are read by column name
