"""Pacing, turn-taking and backoff: one home for how paperbot spaces its requests out.

- :class:`RatePacer` spaces request *starts* evenly under a global rate (Discord's 50 requests a second);
- :class:`SerialGapPacer` lets one request run at a time, each starting a gap after the previous one *ended*
  (arXiv's terms);
- :class:`FairSlots` shares a few concurrent slots fairly between owners (the sender's servers and users);
- :func:`backoff_delay` is the exponential backoff after consecutive failures (sources and deliveries).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager


class RatePacer:
    """Spaces requests at least ``1 / rate`` seconds apart, so no 1-second window holds more than ``rate + 1``.

    A token bucket would allow a burst of its capacity on top of the steady rate; Discord counts requests
    per rolling second, so even spacing is what keeps a bulk sender at zero 429s. Waiters go in FIFO order.
    A turn taken a little late (the event loop wakes a sleeper a millisecond or two after its time) keeps
    its slot in the schedule, so wake-up lag does not add up into a lower rate; one taken later than a
    quarter interval starts a new schedule, so a stalled loop is never followed by a burst. Either way
    ``n + 1`` turns span at least ``n / rate - interval / 4`` seconds, which keeps the bound above.

    The spacing is of *turns*, but Discord counts *arrivals*. When the loop stalls, the requests granted just
    before it (still in flight: :meth:`release` not yet called) reach Discord only after it, together with
    whatever the new schedule sends; so a new schedule after a stall first leaves each request in flight a
    slot of its own.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._slack = self.interval / 4
        self._clock = clock
        self._next = 0.0
        self._in_flight = 0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for this request's turn; call :meth:`release` when its response has come (or it failed)."""
        async with self._lock:
            now = self._clock()
            wait = self._next - now
            if wait > 0:
                await asyncio.sleep(wait)
                now = self._clock()
            if now - self._next > self._slack and self._in_flight:
                # A new schedule, after a stall or a pause, with requests still in flight: they may arrive
                # only now, so they take the first slots of it.
                self._next = now + self._in_flight * self.interval
                await asyncio.sleep(self._next - now)
                now = self._clock()
            self._next = max(now - self._slack, self._next) + self.interval
            self._in_flight += 1

    def release(self) -> None:
        """A request granted a turn is over: its response arrived, or it failed."""
        self._in_flight = max(0, self._in_flight - 1)


class SerialGapPacer:
    """arXiv's terms allow one request at a time, at most one every few seconds, from the whole process.

    Requests take turns; each starts at least ``gap`` seconds after the previous one ended. The timestamp is
    process-wide; the lock is per event loop because an asyncio.Lock binds to the first loop that waits on it
    (the bot runs one loop, but each test runs its own).
    """

    def __init__(self) -> None:
        self._last_end = -math.inf
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def turn(self, gap: float) -> AsyncIterator[None]:
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            wait = self._last_end + gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last_end = time.monotonic()


class FairSlots:
    """At most ``limit`` holders at once; while slots are short, waiting owners take turns (FIFO within one
    owner), so an owner with hundreds of targets queued delays one with a single target by one turn each."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._free = limit
        # Owners in turn order (dict order), each with its waiters; an owner served goes to the back.
        self._waiting: dict[Hashable, deque[asyncio.Future[None]]] = {}

    @asynccontextmanager
    async def turn(self, owner: Hashable) -> AsyncIterator[None]:
        """Hold one slot for the block, waiting for ``owner``'s turn when none is free."""
        await self._acquire(owner)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, owner: Hashable) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # the slot came just as we were cancelled: pass it on
            else:
                self._forget(owner, granted)
            raise

    def _release(self) -> None:
        while self._waiting:
            owner, queue = next(iter(self._waiting.items()))
            del self._waiting[owner]
            granted = queue.popleft()
            if queue:
                self._waiting[owner] = queue
            if not granted.done():
                granted.set_result(None)  # the slot passes straight to the next owner's waiter
                return
        self._free += 1

    def _forget(self, owner: Hashable, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(owner)
        if queue is None or granted not in queue:
            return
        queue.remove(granted)
        if not queue:
            del self._waiting[owner]


def backoff_delay(interval: float, failures: int, cap: float = 3600.0, jitter: float = 0.0) -> float:
    """Seconds to wait after ``failures`` consecutive failures: the interval doubled each time, capped.

    ``jitter`` (0-1) stretches the delay by up to that fraction, drawn at random, so that many failing
    sources (or many bots) do not retry in lockstep.
    """
    if failures <= 0:
        return 0.0
    delay: float = min(interval * 2.0 ** (failures - 1), max(cap, interval))
    return delay * (1 + random.uniform(0, jitter)) if jitter else delay
