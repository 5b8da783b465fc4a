"""Prometheus metrics: counters and histograms the bot updates as it works, gauges read at scrape time.

Each bot has its own registry (no process-wide state), so several bots in one test process do not mix.
Names are listed in README ("Operations → Metrics"); ``deploy/grafana-dashboard.json`` charts them.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.models import Scope, Target

if TYPE_CHECKING:
    from bot.engine import PollResult
    from bot.store import Store

# Seconds: slash commands must answer within Discord's 3 s; REST calls and loop lag are usually far below.
COMMAND_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


def delivery_kind(target: Target, digest: bool) -> str:
    """The ``kind`` label of a delivery: ``digest``, ``channel`` or ``dm``."""
    if digest:
        return "digest"
    return "channel" if target.scope is Scope.GUILD else "dm"


class Metrics:
    """paperbot's metrics and the one registry that holds them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.papers_ingested = Counter(
            "paperbot_papers_ingested", "Newly seen papers stored, per source", ["source"], registry=r
        )
        self.polls = Counter(
            "paperbot_polls", "Source polls by outcome (ok, failed, skipped)", ["source", "outcome"], registry=r
        )
        self.deliveries = Counter(
            "paperbot_deliveries",
            "Outbox deliveries by kind (channel, dm, digest) and outcome (sent, retried, failed, paused)",
            ["kind", "outcome"],
            registry=r,
        )
        self.discord_requests = Counter(
            "paperbot_discord_requests", "Discord REST responses by status code", ["status"], registry=r
        )
        self.rate_limited = Counter("paperbot_discord_429", "429 (rate limited) answers from Discord", registry=r)
        self.request_seconds = Histogram(
            "paperbot_discord_request_seconds", "Discord REST request latency", buckets=REQUEST_BUCKETS, registry=r
        )
        self.command_seconds = Histogram(
            "paperbot_command_seconds",
            "Slash command latency, from the interaction's creation to the command's completion",
            ["command"],
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "paperbot_event_loop_lag_seconds",
            "How late the event loop wakes a sleeping task",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.gateway_latency = Gauge(
            "paperbot_gateway_latency_seconds", "Gateway heartbeat round trip (NaN before the first)", registry=r
        )
        self.gateway_connected = Gauge("paperbot_gateway_connected", "1 while the gateway is connected", registry=r)
        self.outbox_depth = Gauge(
            "paperbot_outbox_depth", "Instant deliveries waiting to go out, and matches still compact", registry=r
        )
        self.database_bytes = Gauge("paperbot_database_bytes", "Size of the database file", registry=r)
        self.papers_stored = Gauge("paperbot_papers_stored", "Papers kept in the database", registry=r)
        self.last_success = Gauge(
            "paperbot_source_last_success_timestamp_seconds",
            "When each source last polled successfully",
            ["source"],
            registry=r,
        )

    def polled(self, result: PollResult) -> None:
        """Count one poll and the papers it brought."""
        outcome = "skipped" if result.skipped else "failed" if result.error is not None else "ok"
        self.polls.labels(result.source, outcome).inc()
        self.papers_ingested.labels(result.source).inc(result.new)

    def delivered(self, target: Target, digest: bool, outcome: str, count: int) -> None:
        """Count ``count`` deliveries to ``target`` that ended in ``outcome`` (the sender's hook)."""
        self.deliveries.labels(delivery_kind(target, digest), outcome).inc(count)

    def watch_requests(self, trace: aiohttp.TraceConfig) -> None:
        """Time every Discord REST request and count its status, from the client session's trace (after pacing)."""

        async def start(
            _s: aiohttp.ClientSession, context: SimpleNamespace, _p: aiohttp.TraceRequestStartParams
        ) -> None:
            context.paperbot_started = time.monotonic()

        async def end(
            _s: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            status = params.response.status
            self.discord_requests.labels(str(status)).inc()
            if status == 429:
                self.rate_limited.inc()
            if (started := getattr(context, "paperbot_started", None)) is not None:
                self.request_seconds.observe(time.monotonic() - started)

        trace.on_request_start.append(start)
        trace.on_request_end.append(end)

    async def refresh(self, store: Store, gateway_latency: float, connected: bool, sources: dict[str, float]) -> None:
        """Set the gauges read at scrape time (``sources``: last success as a Unix time, per source)."""
        self.outbox_depth.set(await store.outbox_depth())
        stats = await store.storage_stats()
        self.database_bytes.set(stats.file_bytes)
        self.papers_stored.set(stats.papers)
        self.gateway_latency.set(gateway_latency)
        self.gateway_connected.set(1 if connected else 0)
        for source, when in sources.items():
            self.last_success.labels(source).set(when)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
