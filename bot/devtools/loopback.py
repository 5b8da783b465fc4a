"""The aiohttp server every loopback fake runs on: 127.0.0.1, a free port, and queued canned answers."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web


@dataclass
class Fault:
    """A canned answer for the next ``times`` requests, after ``stall`` seconds of silence."""

    status: int
    body: bytes
    times: int
    headers: dict[str, str]
    stall: float = 0.0


@dataclass
class Stall:
    """Hold the next ``times`` requests for ``seconds`` before answering them normally."""

    seconds: float
    times: int


_Queued = TypeVar("_Queued", Fault, Stall)


def take_next(queue: list[_Queued]) -> _Queued:
    """The head of ``queue``, used up once (dropped when its ``times`` run out)."""
    item = queue[0]
    item.times -= 1
    if item.times <= 0:
        queue.pop(0)
    return item


class LoopbackServer:
    """Serves ``add_routes``'s routes on 127.0.0.1 and a free port between ``start()`` and ``stop()``.

    Subclasses add their routes when the server starts, so a handler replaced before ``start()`` is the one
    that serves. ``stop()`` also releases every request held by ``hold`` so shutdown does not wait them out.
    """

    client_max_size = 1024**2

    def __init__(self) -> None:
        super().__init__()  # cooperative: the emulator mixes this in with its own parts
        self.port = 0
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (port 0 until started)."""
        return f"http://127.0.0.1:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        """Register the fake's handlers on ``app``."""
        raise NotImplementedError

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve (again, after a ``stop()``)."""
        self._released = asyncio.Event()
        app = web.Application(client_max_size=self.client_max_size)
        self.add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Release held requests and close the server."""
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def hold(self, seconds: float) -> None:
        """Sleep ``seconds`` inside a handler (a hung server), or until ``stop()``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), seconds)


class CannedFaults(LoopbackServer):
    """A loopback fake whose next requests can be answered with canned errors (``fail_next``)."""

    content_type = "application/octet-stream"
    fault_body = b"boom"

    def __init__(self) -> None:
        super().__init__()
        self._faults: list[Fault] = []

    def fail_next(
        self,
        status: int = 500,
        *,
        body: bytes | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
        stall: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body`` (default ``fault_body``; e.g. 200 with
        a broken document), after ``stall`` seconds of silence (a hung server; it ends early when the server
        stops)."""
        self._faults.append(Fault(status, self.fault_body if body is None else body, times, headers or {}, stall))

    async def canned_answer(self) -> web.Response | None:
        """The queued fault's answer to this request, or None when none is queued."""
        if not self._faults:
            return None
        fault = take_next(self._faults)
        if fault.stall:
            await self.hold(fault.stall)
        return web.Response(status=fault.status, body=fault.body, headers=fault.headers, content_type=self.content_type)
