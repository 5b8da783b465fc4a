"""What every paper source provides: fetch bytes over HTTP and turn them into Papers."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Protocol

import aiohttp

from bot.models import Paper


class SourceError(Exception):
    """A fetch failed (timeout, HTTP error, malformed body); the poll is retried later with backoff."""


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
