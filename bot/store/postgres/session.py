"""A process's own session with PostgreSQL: one dedicated connection (not from the pool) that

- holds the leader lock, a session-level advisory lock: when the process dies (even ``kill -9``) the server
  closes its connection and the lock is free for the next process that asks;
- names the process in the outbox: rows it claims carry its server pid, so a claim lasts exactly as long as
  the connection (a dead process's claims are taken over at once, a live one's never);
- LISTENs for subscription changes made by any process (a trigger NOTIFYs the subscription id on commit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from bot.store.coordination import Coordination

log = logging.getLogger(__name__)

# Any constant, the same in every process of one bot (the database is the bot's own).
LEADER_LOCK = 0x70617065_72626F74  # "paperbot"
SUBSCRIPTIONS_CHANNEL = "paperbot_subscriptions"
_LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Session(Coordination):
    """The dedicated connection of one process; reconnects on demand after a failure."""

    clustered = True

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: asyncpg.Connection | None = None
        self._leader = False
        self._callbacks: list[Callable[[int], None]] = []
        self._lock = asyncio.Lock()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._leader = False  # a new connection holds no lock
            conn = await asyncpg.connect(self._url)
            await conn.add_listener(SUBSCRIPTIONS_CHANNEL, self._notified)
            self._conn = conn
        return self._conn

    async def open(self) -> None:
        """Connect (at start, so a bad URL fails there)."""
        async with self._lock:
            await self._connection()

    async def is_leader(self) -> bool:
        """Whether this process holds the leader lock, taking it when it is free."""
        async with self._lock:
            try:
                conn = await self._connection()
                if self._leader:
                    await conn.fetchval("SELECT 1")  # the connection, and so the lock, is still ours
                else:
                    self._leader = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK))
                    if self._leader:
                        log.info("this process is now the leader: it polls the sources and matches new papers")
            except _LOST as exc:
                log.warning("lost the database session (%s); not the leader until it is back", exc)
                await self._drop()
        return self._leader

    async def claimer(self) -> int:
        """This session's server pid, the claim on outbox rows that lasts as long as the session."""
        async with self._lock:
            return int((await self._connection()).get_server_pid())

    def on_subscription_change(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(subscription_id)`` after any process commits a change to a subscription."""
        self._callbacks.append(callback)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        for callback in self._callbacks:
            callback(int(payload))

    async def _drop(self) -> None:
        conn, self._conn, self._leader = self._conn, None, False
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        """Close the session: the leader lock and this process's claims are released."""
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.close()
            self._conn, self._leader = None, False
