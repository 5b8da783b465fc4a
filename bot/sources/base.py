"""What every paper source provides: fetch bytes over HTTP and turn them into Papers."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bot.models import Paper

_CHUNK = 64 * 1024
MAX_UPVOTES = 1_000_000_000  # clamps absurd counts (2**63 would overflow SQLite's integers)
# Everything reading one malformed item can raise: a missing key, a wrong type, a bad value, a number too
# large to convert, a date outside datetime's range, nesting too deep. Such an item is skipped, not the poll.
MALFORMED_ITEM = (KeyError, TypeError, ValueError, ArithmeticError, RecursionError)
_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


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


def redact_url(url: str) -> str:
    """``url`` without what may hold a credential: userinfo (``user:pass@``), query string and fragment.

    ``https://u:key@host/feed?key=SECRET`` → ``https://host/feed?…``; text that is not a URL is returned as is.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # an unbalanced IPv6 bracket or a bad port: keep only what precedes any credential
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if not parts.scheme or not parts.netloc:
        return url
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def redact_text(text: str) -> str:
    """``text`` (an error message, a log line) with every URL in it passed through :func:`redact_url`."""
    return _URL_RE.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group()
    trail = len(url) - len(url.rstrip(").,;:"))  # punctuation closing the sentence, not part of the URL
    return redact_url(url[: len(url) - trail]) + url[len(url) - trail :]


async def read_body(response: aiohttp.ClientResponse, limit: int, where: str) -> bytes:
    """The response body, read in chunks; raises SourceError once it passes ``limit`` bytes.

    aiohttp decompresses as it reads (gzip, deflate, brotli), so the count is of decompressed bytes: a gzip
    bomb fails at the cap instead of filling memory.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise SourceError(f"response from {redact_url(where)} is larger than {limit:,} bytes; not read")
        chunks.append(chunk)
    return b"".join(chunks)


class Source(Protocol):
    """A place where newly listed papers appear."""

    name: str
    poll_interval: float

    async def fetch(self, session: aiohttp.ClientSession, now: datetime) -> list[Paper]:
        """Every paper currently listed; raises SourceError when the listing could not be read whole."""
        ...

    def refetch(self) -> None:
        """Forget cached validators and freshness, so the next fetch reads the whole listing again (the engine
        asks this when it left some listed papers for a later poll)."""
        ...
