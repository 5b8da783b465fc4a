"""What every paper source provides: fetch bytes over HTTP and turn them into Papers."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Protocol

import aiohttp

from bot.models import Paper


class SourceError(Exception):
    """A fetch failed (timeout, HTTP error, malformed body); the poll is retried later with backoff.

    ``retry_after``: seconds the server asked us to wait (HTTP 429/503 ``Retry-After``), if it said.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header given in seconds (the HTTP-date form is ignored)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86400 else None


class Source(Protocol):
    """A place where newly listed papers appear."""

    name: str
    poll_interval: float

    async def fetch(self, session: aiohttp.ClientSession, now: datetime) -> list[Paper]:
        """Every paper currently listed; raises SourceError when the listing could not be read whole."""
        ...


def backoff_delay(interval: float, failures: int, cap: float = 3600.0, jitter: float = 0.0) -> float:
    """Seconds to wait after ``failures`` consecutive failures: the interval doubled each time, capped.

    ``jitter`` (0-1) stretches the delay by up to that fraction, drawn at random, so that many failing
    sources (or many bots) do not retry in lockstep.
    """
    if failures <= 0:
        return 0.0
    delay = min(interval * 2 ** (failures - 1), max(cap, interval))
    return delay * (1 + random.uniform(0, jitter)) if jitter else delay
