"""The SQLite connections: one writer guarded by an ``asyncio.Lock``, one reader, and the migrations runner.

The writer runs explicit ``BEGIN IMMEDIATE`` transactions under the lock (aiosqlite would otherwise interleave
another task's statements into ours); WAL lets the reader run while the writer commits. Both return rows as
``aiosqlite.Row``, read by column name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.coordination import Coordination
from bot.store.dialect import SQLITE, Dialect
from bot.store.migrations import MIGRATIONS
from bot.store.postgres.database import PgConnection, PgDatabase

log = logging.getLogger(__name__)


class SchemaTooNew(Exception):
    """The database was written by a newer paperbot: refuse it rather than run old code on a newer schema."""


class Database:
    """The writer and reader connections to one database file. Create with :meth:`open`."""

    dialect: Dialect = SQLITE
    coordination = Coordination()

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: str) -> None:
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: str) -> Database:
        """Open (creating if needed) the database at ``path`` and apply pending migrations."""
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        writer.row_factory = aiosqlite.Row  # rows are read by column name, never by position
        try:
            # Freed pages can be given back to the file system (a no-op on a database that has tables already:
            # maintenance switches those over once, with a VACUUM).
            await writer.execute("PRAGMA auto_vacuum=INCREMENTAL")
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=FULL")  # delivery state must survive a power cut
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute("PRAGMA busy_timeout=5000")
            await _migrate(writer)
            reader = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        reader.row_factory = aiosqlite.Row
        await reader.execute("PRAGMA busy_timeout=5000")
        return cls(writer, reader, path)

    async def close(self) -> None:
        """Close both connections."""
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


# Either driver: the store's queries are written once against what both offer.
AnyDatabase = Database | PgDatabase
Connection = aiosqlite.Connection | PgConnection
Row = Any  # an aiosqlite.Row or an asyncpg.Record: both are read by column name
