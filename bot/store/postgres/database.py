"""The PostgreSQL connections: a pool, transactions on one pooled connection each, and the migrations runner.

Queries are written with named parameters (``:name``) for both drivers; :func:`translate` turns them into
asyncpg's ``$n`` once per statement text. :class:`PgConnection` offers the few aiosqlite calls the store uses
inside a transaction (``execute`` as an awaitable or a context manager, ``executemany``, ``total_changes``),
so the query code is shared.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.store import search_budget
from bot.store.fts import FOLD_VERSION
from bot.store.postgres.dialect import POSTGRES, PostgresDialect
from bot.store.postgres.migrations import PG_MIGRATIONS
from bot.store.postgres.session import Session
from bot.store.search_budget import SearchTooCostly

log = logging.getLogger(__name__)

# A string literal (left alone) or a named parameter; "::" casts and "12:30" are neither.
_PARAMETER = re.compile(r"'[^']*'|(?<![:\w]):([A-Za-z_]\w*)")
_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH)\b|\bRETURNING\b", re.IGNORECASE)
# Any constant, the same in every process: the key of the transaction-level lock migrations run under.
_MIGRATION_LOCK = 0x70617065  # "pape"
POOL_SIZE = 8
_REINDEX_BATCH = 1000  # papers re-indexed per statement batch when the normalization changed


@lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``:name`` parameters as ``$n``, and the names in ``$n`` order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAMETER.sub(number, sql), tuple(names)


def _arguments(names: Sequence[str], params: Mapping[str, Any] | None) -> list[Any]:
    values = params or {}
    return [values[name] for name in names]


def redact(url: str) -> str:
    """The URL without its password, for logs and ``check``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PgCursor:
    """The rows (or the count of rows changed) of one statement."""

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    async def fetchone(self) -> asyncpg.Record | None:
        """The first row, if any."""
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> list[asyncpg.Record]:
        """Every row."""
        return self._rows


class PgResult:
    """A statement being run: await it, or use it as ``async with``, for its :class:`PgCursor`."""

    def __init__(self, cursor: Awaitable[PgCursor]) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._cursor.__await__()

    async def __aenter__(self) -> PgCursor:
        return await self._cursor

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgConnection:
    """One pooled connection inside a transaction, spoken to as the store speaks to aiosqlite's."""

    dialect: PostgresDialect = POSTGRES

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.raw = conn
        self.total_changes = 0

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> PgResult:
        """Run one statement."""
        return PgResult(self._run(sql, params))

    async def _run(self, sql: str, params: Mapping[str, Any] | None) -> PgCursor:
        query, names = translate(sql)
        args = _arguments(names, params)
        if _RETURNS_ROWS.search(sql):
            rows = await self.raw.fetch(query, *args)
            return PgCursor(rows, len(rows))
        status = await self.raw.execute(query, *args)
        count = int(status.rsplit(" ", 1)[-1]) if status.rsplit(" ", 1)[-1].isdigit() else 0
        self.total_changes += count
        return PgCursor([], count)

    async def executemany(self, sql: str, params: Iterable[Mapping[str, Any]]) -> None:
        """Run one changing statement per parameter set (pipelined), counting the rows changed."""
        query, names = translate(sql)
        args = [_arguments(names, p) for p in params]
        if args:
            self.total_changes += len(await self.raw.fetchmany(query + " RETURNING 1", args))


class PgDatabase:
    """A pool of connections to one PostgreSQL database. Create with :meth:`open`."""

    dialect: PostgresDialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool, url: str, session: Session) -> None:
        self.pool = pool
        self.url = url
        self.path = redact(url)
        self.coordination = session
        self._search_lock = asyncio.Lock()  # one user search at a time holds a pooled connection

    @classmethod
    async def open(cls, url: str) -> PgDatabase:
        """Connect to the database at ``url`` and apply pending migrations."""
        pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE)
        session = Session(url)
        try:
            async with pool.acquire() as conn:
                await _migrate(conn)
                await _refresh_search_index(conn)
            await session.open()
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url, session)

    async def close(self) -> None:
        """Close every pooled connection and the session."""
        await self.coordination.close()
        await self.pool.close()

    async def schema_version(self) -> int:
        """The number of migrations applied."""
        async with self.pool.acquire() as conn:
            return await _version(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        """A connection inside one transaction of its own: committed on exit, rolled back on any exception."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield PgConnection(conn)

    async def fetchall(self, sql: str, params: Mapping[str, Any] | None = None) -> list[asyncpg.Record]:
        """All rows of a read."""
        query, names = translate(sql)
        async with self.pool.acquire() as conn:
            return list(await conn.fetch(query, *_arguments(names, params)))

    async def fetchone(self, sql: str, params: Mapping[str, Any] | None = None) -> asyncpg.Record | None:
        """The first row of a query that returns at most one."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def search_fetchall(
        self, sql: str, params: Mapping[str, Any] | None = None, budget: float | None = None
    ) -> list[asyncpg.Record]:
        """All rows of a user's search, one search at a time, cancelled by the server after ``budget`` seconds
        (default :data:`~bot.store.search_budget.SEARCH_TIME_BUDGET`): then :class:`SearchTooCostly`."""
        budget = search_budget.SEARCH_TIME_BUDGET if budget is None else budget
        query, names = translate(sql)
        # statement_timeout 0 would mean "no limit": an exhausted budget is the smallest one instead.
        timeout_ms = max(1, int(budget * 1000))
        async with self._search_lock, self.pool.acquire() as conn, conn.transaction(readonly=True):
            await conn.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
            try:
                return list(await conn.fetch(query, *_arguments(names, params)))
            except asyncpg.QueryCanceledError as exc:
                raise SearchTooCostly(f"the search ran past {budget:g} s") from exc


async def _refresh_search_index(conn: asyncpg.Connection) -> None:
    """Recompute every paper's vector and category rows when the text normalization they hold is not this
    code's (the first start after migration 10, or a new stemmer or Unicode version)."""
    async with conn.transaction():
        held = await conn.fetchval("SELECT fold_version FROM search_state FOR UPDATE")  # one process rebuilds
        if held == FOLD_VERSION:
            return
        log.info("building the search index (%s); this reads every stored paper once", FOLD_VERSION)
        ids = [row["id"] for row in await conn.fetch("SELECT id FROM papers")]
        for start in range(0, len(ids), _REINDEX_BATCH):
            await POSTGRES.index_papers(PgConnection(conn), ids[start : start + _REINDEX_BATCH])
        await conn.execute("UPDATE search_state SET fold_version = $1", FOLD_VERSION)


async def _version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('paperbot_schema') IS NOT NULL")
    return int(await conn.fetchval("SELECT version FROM paperbot_schema")) if exists else 0


async def _migrate(conn: asyncpg.Connection) -> None:
    # One transaction under a lock: processes starting together migrate once, and a failed migration
    # leaves nothing half-applied (PostgreSQL's DDL is transactional).
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS paperbot_schema (version INTEGER NOT NULL)")
        if await conn.fetchval("SELECT COUNT(*) FROM paperbot_schema") == 0:
            await conn.execute("INSERT INTO paperbot_schema (version) VALUES (0)")
        version = await _version(conn)
        for number, script in enumerate(PG_MIGRATIONS[version:], start=version + 1):
            log.info("applying database migration %d (PostgreSQL)", number)
            await conn.execute(script)
            await conn.execute("UPDATE paperbot_schema SET version = $1", number)
