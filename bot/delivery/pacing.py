"""Keep the sender under Discord's global rate limit (50 requests/s per bot) with room to spare."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class RequestPacer:
    """Spaces requests at least ``1 / rate`` seconds apart, so no 1-second window holds more than ``rate + 1``.

    A token bucket would allow a burst of its capacity on top of the steady rate; Discord counts requests
    per rolling second, so even spacing is what keeps a bulk sender at zero 429s.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for this request's turn."""
        async with self._lock:
            now = self._clock()
            wait = self._next - now
            if wait > 0:
                await asyncio.sleep(wait)
                now = self._clock()
            self._next = max(now, self._next) + self.interval
