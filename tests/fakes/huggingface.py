"""A loopback stand-in for Hugging Face's ``/api/daily_papers``, serving fixture items in the real shape."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "hf_daily_papers.json"


def fixture_items() -> list[dict[str, Any]]:
    """The 71 fixture items built from the captured HF trending page (fresh copies each call)."""
    return copy.deepcopy(json.loads(FIXTURE.read_text(encoding="utf-8")))


@dataclass
class Fault:
    status: int
    body: bytes
    times: int
    headers: dict[str, str]
    stall: float = 0.0


class FakeHuggingFace:
    """Serves ``GET /api/daily_papers?date=&p=&limit=`` from per-day lists that tests edit."""

    def __init__(self) -> None:
        self.days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.requests: list[dict[str, str]] = []
        self._faults: list[Fault] = []
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/daily_papers"

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/api/daily_papers", self._daily_papers)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def publish(self, day: str, items: list[dict[str, Any]]) -> None:
        """List ``items`` on ``day`` (YYYY-MM-DD), after what is already there."""
        self.days[day].extend(items)

    def fail_next(
        self,
        status: int = 500,
        *,
        body: bytes = b'{"error": "boom"}',
        times: int = 1,
        headers: dict[str, str] | None = None,
        stall: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body`` (e.g. 200 with broken JSON),
        after ``stall`` seconds of silence (a hung server; the stall ends early when the server stops)."""
        self._faults.append(Fault(status, body, times, headers or {}, stall))

    async def _daily_papers(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        if self._faults:
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            if fault.stall:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), fault.stall)
            return web.Response(
                status=fault.status, body=fault.body, headers=fault.headers, content_type="application/json"
            )
        day = request.query.get("date", "")
        page = int(request.query.get("p", "0"))
        limit = min(int(request.query.get("limit", "50")), 100)
        items = self.days.get(day, [])[page * limit : (page + 1) * limit]
        return web.Response(body=json.dumps(items).encode(), content_type="application/json")
