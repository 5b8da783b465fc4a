"""What every paper source provides: fetch bytes over HTTP and turn them into Papers."""

from __future__ import annotations

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
