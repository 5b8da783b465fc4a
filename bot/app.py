"""The discord.py bot: ``setup_hook`` wires the store, engine, sender, scheduler and cogs; nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
import discord
import yarl
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord.ext import commands

from bot.config import Settings
from bot.delivery.discord_transport import DiscordTransport, paced_requests
from bot.delivery.sender import Sender
from bot.engine import Engine, PollResult, utc_now
from bot.models import SourceHealth, Target
from bot.ops.maintenance import MaintenanceResult, run_maintenance
from bot.sources.arxiv import ArxivSource
from bot.sources.base import Source
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.rss import RssSource
from bot.store import Store
from bot.tree import PaperTree

if TYPE_CHECKING:
    from bot.ops.server import OpsServer

log = logging.getLogger(__name__)

COGS = ("bot.cogs.subscriptions", "bot.cogs.alerts", "bot.cogs.papers")
SHUTDOWN_GRACE_SECONDS = 8.0  # within Docker's 10 s between SIGTERM and SIGKILL
MAINTENANCE_INTERVAL = timedelta(days=1)
# APScheduler's default misfire grace of 1 s drops runs whenever the loop is busy; a late poll is still useful.
JOB_DEFAULTS = {"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1}


def point_client_at(settings: Settings) -> None:
    """Send REST and gateway traffic to the configured URLs (a proxy, or the test emulator)."""
    if settings.discord.api_base_url:
        discord.http.Route.BASE = settings.discord.api_base_url.rstrip("/")
    if settings.discord.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


def build_sources(settings: Settings) -> list[Source]:
    """The enabled sources, one plug-in each (see bot/sources/)."""
    sources: list[Source] = []
    if settings.sources.huggingface.enabled:
        sources.append(HuggingFaceSource(settings.sources.huggingface))
    if settings.sources.arxiv.enabled:
        sources.append(ArxivSource(settings.sources.arxiv))
    sources.extend(RssSource(feed) for feed in settings.sources.feeds)
    return sources


class PaperBot(commands.Bot):
    """paperbot's Discord client. Only the ``guilds`` intent: no privileged intents are needed."""

    store: Store
    engine: Engine
    sender: Sender
    http_session: aiohttp.ClientSession

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        trace = paced_requests()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            http_trace=trace,  # every REST request, retries included, under the global limit
            tree_cls=PaperTree,
        )
        self.settings = settings
        self.clock = clock
        self.sources = build_sources(settings)
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults=JOB_DEFAULTS)
        self._deliver_lock = asyncio.Lock()
        self._running_jobs: set[asyncio.Task[object]] = set()
        self._stopping = False
        self.ops: OpsServer | None = None
        if settings.ops.listen:
            from bot.ops.server import OpsServer  # imported only when enabled: prometheus_client costs start-up time

            self.ops = OpsServer(self, settings.ops.listen, trace)

    async def setup_hook(self) -> None:
        self.store = await Store.open(self.settings.storage.path)
        self.engine = Engine(
            self.store,
            clock=self.clock,
            limits=self.settings.limits,
            degraded_after=self.settings.sources.degraded_after,
        )
        # Indexing many subscriptions takes seconds: do it while the gateway connects. Polls and subscription
        # changes wait for it (Engine.ready); commands that only read the store answer at once.
        self._load_task = asyncio.create_task(self.engine.load(), name="paperbot-load")
        self.sender = Sender(
            self.store,
            DiscordTransport(self),
            self.clock,
            on_paused=self._on_paused,
            digest_cap=self.settings.delivery.digest_cap,
            on_outcome=self.ops.metrics.delivered if self.ops else None,
        )
        self.http_session = aiohttp.ClientSession(headers={"User-Agent": "paperbot (+https://github.com/)"})
        for cog in COGS:
            await self.load_extension(cog)
        await self.sync_commands()
        for source in self.sources:
            self.scheduler.add_job(
                self.poll,
                "interval",
                seconds=source.poll_interval,
                args=[source],
                id=f"poll:{source.name}",
                next_run_time=datetime.now(UTC),
            )
        self.scheduler.add_job(
            self.deliver,
            "interval",
            seconds=self.settings.delivery.interval,
            id="deliver",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.add_job(
            self.maintain,
            "interval",
            seconds=MAINTENANCE_INTERVAL.total_seconds(),
            id="maintenance",
            next_run_time=datetime.now(UTC) + timedelta(seconds=30),  # after start-up's own work
        )
        self.scheduler.start()
        if self.ops is not None:
            await self.ops.start()

    async def sync_commands(self) -> None:
        """Register slash commands: instantly in the dev guild when configured, else globally."""
        guild_id = self.settings.discord.dev_guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d slash commands%s", len(synced), f" to guild {guild_id}" if guild_id else "")

    async def poll(self, source: Source) -> PollResult:
        """Poll one source (a scheduler job); kicks the sender when something was queued."""
        with self._tracked():
            result = await self.engine.poll(source, self.http_session)
        if self.ops is not None:
            self.ops.metrics.polled(result)
        if result.health is not None:
            await self._tell_owner(source.name, result)
        if result.queued:
            await self.deliver()
        return result

    async def _tell_owner(self, source: str, result: PollResult) -> None:
        """DM the application's owner once when a source degrades and once when it recovers."""
        if result.health is SourceHealth.DEGRADED:
            text = (
                f"paperbot: the **{source}** source has failed {self.engine.degraded_after} polls in a row "
                f"and is backing off. Last error: {result.error}"
            )
        else:
            text = f"paperbot: the **{source}** source has recovered and is polling normally again."
        try:
            info = await self.application_info()
            owner = info.team.owner if info.team and info.team.owner else info.owner
            channel = await self.create_dm(discord.Object(id=owner.id))
            await channel.send(text[:2000], allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not DM the owner about %s (%s): %s", source, result.health, exc)

    async def deliver(self) -> None:
        """Drain the outbox (a scheduler job). Runs are serialised; a run already going covers this one."""
        if self._deliver_lock.locked() or self._stopping:
            return
        async with self._deliver_lock:
            try:
                with self._tracked():
                    result = await self.sender.drain()
                if result.messages or result.paused_targets or result.retried or result.failed:
                    log.info(
                        "delivery run: %d messages (%d digests), %d deliveries; %d retrying, %d failed, "
                        "%d targets paused",
                        result.messages,
                        result.digests,
                        result.delivered,
                        result.retried,
                        result.failed,
                        result.paused_targets,
                    )
            except Exception:
                log.exception("delivery run failed; will retry on the next run")

    async def maintain(self) -> MaintenanceResult:
        """Prune papers past retention and give the space back (a daily scheduler job)."""
        with self._tracked():
            result = await run_maintenance(
                self.store,
                self.clock(),
                self.settings.storage.keep_papers_days,
                should_stop=lambda: self._stopping,
            )
        log.info(
            "maintenance: pruned %d papers; database %.1f MB -> %.1f MB%s",
            result.pruned,
            result.bytes_before / 1e6,
            result.bytes_after / 1e6,
            " (switched to incremental auto-vacuum)" if result.vacuumed else "",
        )
        return result

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        """Remember the running job so ``close`` can cancel it before the store closes."""
        task = asyncio.current_task()
        assert task is not None
        self._running_jobs.add(task)
        try:
            yield
        finally:
            self._running_jobs.discard(task)

    def _on_paused(self, target: Target, reason: str, subscription_ids: list[int]) -> None:
        self.engine.forget_subscriptions(subscription_ids)

    def next_poll_time(self, source_name: str) -> datetime | None:
        """When the scheduler next polls this source (None: not scheduled)."""
        job = self.scheduler.get_job(f"poll:{source_name}")
        return None if job is None else job.next_run_time

    def next_check_time(self) -> datetime | None:
        """The soonest next poll of any enabled source (None: no source is scheduled)."""
        times = [t for source in self.sources if (t := self.next_poll_time(source.name)) is not None]
        return min(times, default=None)

    async def close(self) -> None:
        # Stop starting jobs, let an in-flight poll or delivery finish (cancel it only if it hangs), and only
        # then shut the scheduler down: its shutdown cancels running jobs mid-transaction.
        self._stopping = True
        if hasattr(self, "sender"):
            self.sender.stop()  # the batch being sent finishes; no new one starts
        if self.scheduler.running:
            self.scheduler.pause()
        running = [t for t in self._running_jobs if t is not asyncio.current_task()]
        if running:
            _, hung = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in hung:
                task.cancel()
            await asyncio.gather(*hung, return_exceptions=True)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if hasattr(self, "_load_task") and not self._load_task.done():
            self._load_task.cancel()
            await asyncio.gather(self._load_task, return_exceptions=True)
        await super().close()
        if self.ops is not None:
            await self.ops.close()
        if hasattr(self, "http_session"):
            await self.http_session.close()
        if hasattr(self, "store"):
            await self.store.close()
