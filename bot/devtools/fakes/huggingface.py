"""A loopback stand-in for Hugging Face's ``/api/daily_papers``, serving fixture items in the real shape."""

from __future__ import annotations

import copy
import json
import time
from collections import defaultdict
from importlib import resources
from typing import Any

from aiohttp import web

from bot.devtools.loopback import CannedFaults

FIXTURE = "hf_daily_papers.json"


def fixture_items() -> list[dict[str, Any]]:
    """The 71 fixture items built from the captured HF trending page (fresh copies each call)."""
    text = (resources.files("bot.devtools") / "data" / FIXTURE).read_text(encoding="utf-8")
    items: list[dict[str, Any]] = json.loads(text)
    return copy.deepcopy(items)


class FakeHuggingFace(CannedFaults):
    """Serves ``GET /api/daily_papers?date=&p=&limit=`` from per-day lists that tests edit."""

    content_type = "application/json"
    fault_body = b'{"error": "boom"}'

    def __init__(self) -> None:
        super().__init__()
        self.days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.requests: list[dict[str, str]] = []
        self.request_times: list[float] = []  # time.monotonic() of each request, in order

    @property
    def url(self) -> str:
        """The endpoint to give HuggingFaceSource."""
        return f"{self.base_url}/api/daily_papers"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/daily_papers", self._daily_papers)

    def publish(self, day: str, items: list[dict[str, Any]]) -> None:
        """List ``items`` on ``day`` (YYYY-MM-DD), after what is already there."""
        self.days[day].extend(items)

    async def _daily_papers(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        self.request_times.append(time.monotonic())
        if (canned := await self.canned_answer()) is not None:
            return canned
        day = request.query.get("date", "")
        page = int(request.query.get("p", "0"))
        limit = min(int(request.query.get("limit", "50")), 100)
        items = self.days.get(day, [])[page * limit : (page + 1) * limit]
        return web.Response(body=json.dumps(items).encode(), content_type="application/json")
