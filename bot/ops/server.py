"""The optional operations endpoint (``[ops] listen``): ``/healthz`` and ``/metrics`` over aiohttp.

It also measures what only a running bot can: event-loop lag, slash-command latency, gateway connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.config import split_listen
from bot.ops.health import SourceCheck, health_problems
from bot.ops.metrics import Metrics

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

LAG_PROBE_SECONDS = 0.25


class OpsServer:
    """Serves health and metrics for one bot, and feeds the metrics it alone can observe."""

    def __init__(self, bot: PaperBot, listen: str, trace: aiohttp.TraceConfig) -> None:
        self.bot = bot
        self.host, self.port = split_listen(listen)
        self.metrics = Metrics()
        self.metrics.watch_requests(trace)
        self.connected = False
        self.started_at: datetime | None = None
        self._runner: web.AppRunner | None = None
        self._lag_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, and start measuring loop lag and command latency."""
        self.started_at = self.bot.clock()
        for event, handler in (
            ("on_connect", self._on_connect),
            ("on_resumed", self._on_connect),
            ("on_disconnect", self._on_disconnect),
            ("on_app_command_completion", self._on_command),
        ):
            self.bot.add_listener(handler, event)
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self._lag_task = asyncio.create_task(self._measure_lag(), name="paperbot-loop-lag")
        log.info("health and metrics on http://%s:%d/healthz and /metrics", self.host, self.port)

    async def close(self) -> None:
        """Stop listening and measuring."""
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
        if self._runner is not None:
            await self._runner.cleanup()

    async def _on_connect(self) -> None:
        self.connected = True

    async def _on_disconnect(self) -> None:
        self.connected = False

    async def _on_command(self, interaction: discord.Interaction, command: Any) -> None:
        took = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        self.metrics.command_seconds.labels(command.qualified_name).observe(max(took, 0.0))

    async def _measure_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            self.metrics.loop_lag.observe(max(loop.time() - before - LAG_PROBE_SECONDS, 0.0))

    async def _source_checks(self) -> list[SourceCheck]:
        return [
            SourceCheck(s.name, s.poll_interval, await self.bot.store.source_state(s.name)) for s in self.bot.sources
        ]

    def _gateway_up(self) -> bool:
        return self.connected and not self.bot.is_closed()

    async def _healthz(self, _request: web.Request) -> web.Response:
        problems = health_problems(
            connected=self._gateway_up(),
            sources=await self._source_checks(),
            now=self.bot.clock(),
            started_at=self.started_at or self.bot.clock(),
        )
        if problems:
            return web.Response(status=503, text="unhealthy\n" + "\n".join(problems) + "\n")
        return web.Response(text="ok\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        successes = {
            check.name: check.state.last_success_at.timestamp()
            for check in await self._source_checks()
            if check.state is not None and check.state.last_success_at is not None
        }
        await self.metrics.refresh(self.bot.store, self.bot.latency, self._gateway_up(), successes)
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
