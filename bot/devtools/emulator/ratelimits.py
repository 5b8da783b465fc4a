"""Discord's rate limits (global 50/s, per-channel message buckets with the headers discord.py paces itself
by), the 429 answers, and throughput measurements over the recorded requests."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web

from bot.devtools.emulator.core import EmulatorCore
from bot.devtools.emulator.model import JSON, RecordedRequest
from bot.devtools.emulator.protocol import ceil_ms, json_response, needs_auth, status_message


@dataclass
class Bucket:
    """One per-channel message bucket: a fixed window that opens with its first request."""

    reset_at: float  # time.monotonic() when the window ends
    used: int = 0


@dataclass
class RateLimitState:
    """State of ``enforce_rate_limits``."""

    global_per_second: int
    channel_limit: int
    channel_period: float
    global_window: deque[float] = field(default_factory=deque)  # admission times in the last second
    buckets: dict[int, Bucket] = field(default_factory=dict)  # by channel id


class RateLimiting(EmulatorCore):
    """Admits or refuses requests under ``enforce_rate_limits`` and counts what Discord would count."""

    def __init__(self) -> None:
        super().__init__()
        self._rate_limits: RateLimitState | None = None
        #: 429s the emulator answered (rate-limit enforcement and injected faults).
        self.rate_limited_count = 0
        #: Every 401, 403 and 429 answered: what Discord's Cloudflare ban counts (10,000 per 10 minutes).
        self.invalid_request_count = 0

    def enforce_rate_limits(
        self, *, global_per_second: int = 50, channel_messages: tuple[int, float] = (5, 5.0)
    ) -> None:
        """Enforce Discord's rate limits (off by default; calling again resets the counters' windows).

        * Global: more than ``global_per_second`` bot-authenticated REST requests in any 1-second window
          (sliding) -> 429 ``{"message": "You are being rate limited.", "retry_after": <s until the
          oldest request in the window is 1 s old>, "global": true}`` with ``X-RateLimit-Global: true``,
          ``X-RateLimit-Scope: global`` and ``Via``. Interaction callbacks and webhook (followup) requests
          are exempt, as on Discord. discord.py sleeps ``retry_after`` and blocks new requests meanwhile,
          but does not pace itself under this limit.
        * Per channel: ``POST /channels/{id}/messages`` at most ``channel_messages[0]`` per
          ``channel_messages[1]`` seconds per channel (a fixed window opened by its first request; Discord's
          is 5 per 5 s) -> 429 with scope "user". Every response of that route carries the bucket headers
          discord.py paces itself with: ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds),
          ``-Reset-After`` (seconds) and ``-Bucket`` -- one hash for the route, the channel being the major
          parameter, as on Discord (discord.py keys its buckets by hash + major parameter), so a client
          that honours them gets no 429 from this bucket.

        Requests failed by ``fail_next`` / ``fail_randomly`` are answered before these checks and are not
        counted. See ``rate_limited_count``, ``invalid_request_count``, ``requests_per_second`` and
        ``peak_requests``."""
        limit, period = channel_messages
        if global_per_second < 1 or limit < 1 or period <= 0:
            raise ValueError("rate limits must be positive")
        self._rate_limits = RateLimitState(global_per_second, int(limit), float(period))

    def stop_enforcing_rate_limits(self) -> None:
        """Turn ``enforce_rate_limits`` off again."""
        self._rate_limits = None

    @property
    def request_times(self) -> list[float]:
        """Arrival time (``time.monotonic()``) of every recorded REST request, in order."""
        return [r.time for r in self.requests]

    def _throughput_sample(self, method: str, path_pattern: str, statuses: Iterable[int] | None) -> list[float]:
        wanted = None if statuses is None else set(statuses)
        return [r.time for r in self.find_requests(method, path_pattern) if wanted is None or r.status in wanted]

    def requests_per_second(
        self,
        window_start: float | None = None,
        window_end: float | None = None,
        *,
        method: str = "*",
        path_pattern: str = r".*",
        statuses: Iterable[int] | None = None,
    ) -> float:
        """Sustained rate of recorded requests (method ``*`` = any, path regex fullmatch, answered with one
        of ``statuses`` if given, e.g. ``[200]``) that arrived within ``[window_start, window_end]``
        (``time.monotonic()`` values; default: the first/last such request), per second. 0.0 when nothing
        matched or the window has no length."""
        times = self._throughput_sample(method, path_pattern, statuses)
        if not times:
            return 0.0
        start = times[0] if window_start is None else window_start
        end = times[-1] if window_end is None else window_end
        if end <= start:
            return 0.0
        return sum(1 for t in times if start <= t <= end) / (end - start)

    def peak_requests(
        self,
        window: float = 1.0,
        *,
        method: str = "*",
        path_pattern: str = r".*",
        statuses: Iterable[int] | None = None,
    ) -> int:
        """The most matching requests (as for ``requests_per_second``) that arrived within any ``window``
        seconds: e.g. ``peak_requests(1.0, statuses=[200])`` must stay <= 50 under Discord's global limit."""
        times = self._throughput_sample(method, path_pattern, statuses)
        best = lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    @staticmethod
    def _route_bucket_hash(method: str, path: str) -> str:
        """A stable per-route bucket hash, like Discord's ``X-RateLimit-Bucket`` (ids do not change it)."""
        template = re.sub(r"/\d+", "/{id}", path)
        return hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:32]

    @staticmethod
    def _message_bucket_channel(rec: RecordedRequest) -> int | None:
        m = re.fullmatch(r"/channels/(\d+)/messages", rec.path) if rec.method == "POST" else None
        return int(m.group(1)) if m else None

    def _bucket_headers(self, rec: RecordedRequest, bucket: Bucket | None, limit: int) -> dict[str, str]:
        """``X-RateLimit-*`` for a bucket (None: an injected 429 without enforcement -> exhausted for
        ``retry_after``, handled by the caller)."""
        reset_after = 0.0 if bucket is None else max(0.0, bucket.reset_at - time.monotonic())
        used = limit if bucket is None else bucket.used
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": f"{ceil_ms(time.time() + reset_after):.3f}",
            "X-RateLimit-Reset-After": f"{ceil_ms(reset_after):.3f}",
            "X-RateLimit-Bucket": self._route_bucket_hash(rec.method, rec.path),
        }

    def _admit(self, rec: RecordedRequest) -> tuple[web.Response | None, Bucket | None]:
        """Rate-limit enforcement: (a 429 to answer, None) or (None, the message bucket the request used)."""
        rl = self._rate_limits
        if rl is None:
            return None, None
        now = rec.time  # arrival: requests are admitted in arrival order (no await in between)
        if needs_auth(rec.path):  # bot-authenticated (checked already); callbacks/webhooks are exempt
            window = rl.global_window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= rl.global_per_second:
                return self._error_response(rec, 429, retry_after=window[0] + 1.0 - now, global_=True), None
            window.append(now)
        cid = self._message_bucket_channel(rec)
        if cid is None:
            return None, None
        bucket = rl.buckets.get(cid)
        if bucket is None or now >= bucket.reset_at:
            bucket = rl.buckets[cid] = Bucket(now + rl.channel_period)
        if bucket.used >= rl.channel_limit:
            headers = self._bucket_headers(rec, bucket, rl.channel_limit)
            return self._error_response(rec, 429, retry_after=bucket.reset_at - now, headers=headers), None
        bucket.used += 1
        return None, bucket

    def _error_response(
        self,
        rec: RecordedRequest,
        status: int,
        code: int = 0,
        message: str = "",
        *,
        retry_after: float = 0.05,
        global_: bool = False,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """An emulator-made error (injected or rate limit). 429: Discord's body and headers (``Via``,
        ``Retry-After``, global or bucket ``X-RateLimit-*`` with ``headers`` as the bucket's); others:
        ``{"message", "code"}``."""
        out = {"Via": "1.1 google"}
        if status == 429:
            retry_after = ceil_ms(max(retry_after, 0.001))
            body: JSON = {
                "message": message or "You are being rate limited.",
                "retry_after": retry_after,
                "global": global_,
            }
            if code:
                body["code"] = code
            out["Retry-After"] = str(max(1, math.ceil(retry_after)))
            if global_:
                out.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
            else:
                if headers is None:
                    limit = self._rate_limits.channel_limit if self._rate_limits is not None else 5
                    headers = self._bucket_headers(rec, None, limit)
                    headers["X-RateLimit-Reset"] = f"{ceil_ms(time.time() + retry_after):.3f}"
                    headers["X-RateLimit-Reset-After"] = f"{retry_after:.3f}"
                out.update(headers)
                out["X-RateLimit-Scope"] = "user"
        else:
            body = {"message": message or status_message(status, code), "code": code}
        rec.response = body
        rec.response_headers = out
        return json_response(status, body, out)
