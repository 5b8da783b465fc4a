"""Discord's global rate limit is per bot, not per process: :class:`SharedRatePacer` keeps
:class:`bot.pacing.RatePacer`'s schedule in PostgreSQL, so every process of one bot takes its turns from the
same schedule.

Each request reserves the next slot with one atomic statement on a row of ``request_schedule`` (the row lock
serialises processes for the microseconds of the update) and then sleeps until its slot. Slots are computed on
the database server's clock, so machines' clocks need not agree. Spacing is RatePacer's: ``1 / rate`` apart, a
slot never more than a quarter interval in the past (no burst after a stall), and a process whose loop stalled
past its slot takes a new one instead of going late into another process's turns.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from bot.pacing import RatePacer

log = logging.getLogger(__name__)

# The wait until the reserved slot (seconds; <= 0: go now). $1 the schedule, $2 the interval, $3 the slack.
_RESERVE = """
    INSERT INTO request_schedule AS s (name, next_at) VALUES ($1, extract(epoch FROM clock_timestamp()) + $2)
    ON CONFLICT (name) DO UPDATE
        SET next_at = GREATEST(s.next_at, extract(epoch FROM clock_timestamp()) - $3) + $2
    RETURNING next_at - $2 - extract(epoch FROM clock_timestamp())
"""
_LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class SharedRatePacer:
    """Spaces the requests of every process sharing the database ``url`` at least ``1 / rate`` apart."""

    def __init__(self, url: str, rate: float, name: str = "discord") -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._slack = self.interval / 4
        self._url = url
        self._name = name
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        # While the database cannot be reached, this process paces itself alone (and says so in the log).
        self._fallback = RatePacer(rate)

    async def acquire(self) -> None:
        """Wait for this request's turn in the shared schedule."""
        # One reservation outstanding per process, slept out under the lock as RatePacer does: were several
        # requests asleep on reserved slots, a stalled event loop would wake them all at once, a burst.
        async with self._lock:
            loop = asyncio.get_running_loop()
            while True:
                try:
                    if self._conn is None or self._conn.is_closed():
                        self._conn = await asyncpg.connect(self._url)
                    wait = float(await self._conn.fetchval(_RESERVE, self._name, self.interval, self._slack))
                except _LOST as exc:
                    log.warning("shared request schedule unavailable (%s); pacing this process alone", exc)
                    if self._conn is not None:
                        self._conn.terminate()
                        self._conn = None
                    await self._fallback.acquire()
                    return
                if wait <= 0:
                    return
                slot = loop.time() + wait
                await asyncio.sleep(wait)
                # Woken later than the slack (this process's loop stalled): the slot now belongs to another
                # process's second, so going now could land beside its requests. Leave it and take a new one.
                if loop.time() - slot <= self._slack:
                    return

    def release(self) -> None:
        """Nothing to do: the shared schedule's slots are reserved on the database server's clock."""

    async def close(self) -> None:
        """Close the schedule's connection."""
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None
