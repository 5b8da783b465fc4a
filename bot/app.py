"""The discord.py bot: ``setup_hook`` wires the store, engine, sender, scheduler and cogs; nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord import app_commands
from discord.ext import commands

from bot.cogs import alerts, controls, papers, subscriptions
from bot.config import Settings
from bot.delivery.discord_transport import DiscordTransport, paced_requests
from bot.delivery.sender import Sender
from bot.engine import Engine, PollResult, utc_now
from bot.expansion import Expansion
from bot.logs import log_context
from bot.models import SourceHealth, Target
from bot.ops.maintenance import MaintenanceResult, run_maintenance
from bot.sharding import process_shards
from bot.sources.arxiv import ArxivSource
from bot.sources.base import Source
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.rss import RssSource
from bot.store import Store
from bot.store.postgres.pacing import SharedRatePacer
from bot.tree import PaperTree

if TYPE_CHECKING:
    from bot.ops.server import OpsServer

log = logging.getLogger(__name__)

# Imported with this module, before the event loop runs: discord.py's load_extension would import each one (and,
# without bytecode, compile it) on the loop at start, holding it for tens of milliseconds.
COGS = (subscriptions, alerts, papers, controls)
SHUTDOWN_GRACE_SECONDS = 8.0  # within Docker's 10 s between SIGTERM and SIGKILL
MAINTENANCE_INTERVAL = timedelta(days=1)
# Several processes share Discord's 50 requests a second through one schedule in the database; each process's
# requests reach Discord with its own delays (its event loop, the schedule's round trip), so a cluster keeps a
# wider margin than one process's 48/s (measured: tests/e2e/test_cluster.py, README "Running on PostgreSQL").
CLUSTER_REQUESTS_PER_SECOND = 35.0
# A cluster's leader polls a source when at least this share of its interval has passed since the last poll
# by any process: the scheduler's own ticks are an interval apart, give or take a few milliseconds.
POLL_SLACK = 0.9
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


def refuses_user_install(error: discord.HTTPException) -> bool:
    """Whether a sync failed because the application does not allow user installs (400 50035 Invalid Form
    Body with an error on a command's ``integration_types``)."""
    return error.status == 400 and error.code == 50035 and "integration_types" in str(error)


class PaperBot(commands.AutoShardedBot):
    """paperbot's Discord client. Only the ``guilds`` intent: no privileged intents are needed.

    Sharded: ``[discord] shard_count`` shards in all (0: as many as Discord recommends), of which this process
    runs ``shard_ids`` (empty: all). It answers its shards' interactions and sends its guilds' papers
    (and DMs when it runs shard 0); see bot/sharding.py.
    """

    store: Store
    engine: Engine
    sender: Sender
    expansion: Expansion
    http_session: aiohttp.ClientSession

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        shards: dict[str, Any] = {"shard_count": settings.discord.shard_count or None}  # None: ask Discord
        if settings.discord.shard_ids:
            shards["shard_ids"] = list(settings.discord.shard_ids)
        # Several processes on one PostgreSQL database are one bot: they share Discord's global rate.
        url = settings.storage.url.strip()
        shared_pacer = SharedRatePacer(url, CLUSTER_REQUESTS_PER_SECOND) if url else None
        trace = paced_requests(pacer=shared_pacer)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            http_trace=trace,  # every REST request, retries included, under the global limit
            tree_cls=PaperTree,
            **shards,
        )
        self.settings = settings
        self.shared_pacer = shared_pacer
        self.clock = clock
        self.sources = build_sources(settings)
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults=JOB_DEFAULTS)
        self._deliver_lock = asyncio.Lock()
        self._running_jobs: set[asyncio.Task[object]] = set()
        self._following: set[asyncio.Task[None]] = set()
        self._delivering: set[asyncio.Task[None]] = set()  # delivery runs started by the expansion
        self._deliver_again = False  # the expansion queued rows during a delivery run: one more after it
        # In a cluster, while this process leads: the sources it has not polled since it took over.
        self._taking_over: set[str] | None = None
        self._stopping = False
        self.ops: OpsServer | None = None
        if settings.ops.listen:
            from bot.ops.server import OpsServer  # imported only when enabled: prometheus_client costs start-up time

            self.ops = OpsServer(self, settings.ops.listen, trace)

    async def setup_hook(self) -> None:
        self.store = await Store.open(self.settings.storage.location())
        self.engine = Engine(
            self.store,
            clock=self.clock,
            limits=self.settings.limits,
            degraded_after=self.settings.sources.degraded_after,
        )
        # Indexing many subscriptions takes seconds: do it while the gateway connects. Polls and subscription
        # changes wait for it (Engine.ready); commands that only read the store answer at once.
        self._load_task = asyncio.create_task(self.engine.load(), name="paperbot-load")
        self.store.coordination.on_subscription_change(self._subscription_changed)
        # Big polls keep their matches compact; this turns them into outbox rows as the sender makes room.
        self.expansion = Expansion(self.store, on_expanded=self._deliver_soon)
        self.expansion.start()
        self.sender = Sender(
            self.store,
            DiscordTransport(self),
            self.clock,
            on_paused=self._on_paused,
            digest_cap=self.settings.delivery.digest_cap,
            rank=self.engine.recommender.rank,
            shards=process_shards(self.settings.discord.shard_count, self.settings.discord.shard_ids),
            on_outcome=self.ops.metrics.delivered if self.ops else None,
        )
        self.http_session = aiohttp.ClientSession(headers={"User-Agent": "paperbot (+https://github.com/)"})
        for cog in COGS:
            await cog.setup(self)
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
        """Register slash commands: instantly in the dev guild when configured, else globally. If Discord
        refuses the user-install commands (User Install is off for the application), register every command
        for server installs only; if it refuses the commands for any other reason, run without registering
        (commands registered earlier stay) rather than not at all."""
        guild_id = self.settings.discord.dev_guild_id
        guild = discord.Object(id=guild_id) if guild_id else None
        try:
            synced = await self._sync_tree(guild)
        except discord.HTTPException as exc:
            if not refuses_user_install(exc):
                log.error("could not register slash commands; running with those registered before: %s", exc)
                return
            log.warning(
                "Discord refused the user-install commands (/alerts, /papers): User Install is off for this "
                "application. Registering every command for servers only; to offer them to users' own accounts, "
                "enable Developer Portal -> Installation -> Installation Contexts -> User Install and restart."
            )
            for command in self.tree.get_commands():
                command.allowed_installs = app_commands.AppInstallationType(guild=True, user=False)
            try:
                synced = await self._sync_tree(guild)
            except discord.HTTPException as retry_exc:
                log.error("could not register slash commands; running with those registered before: %s", retry_exc)
                return
        log.info("synced %d slash commands%s", len(synced), f" to guild {guild_id}" if guild_id else "")

    async def _sync_tree(self, guild: discord.Object | None) -> list[app_commands.AppCommand]:
        if guild is None:
            return await self.tree.sync()
        self.tree.copy_global_to(guild=guild)
        return await self.tree.sync(guild=guild)

    async def poll(self, source: Source) -> PollResult:
        """Poll one source (a scheduler job); kicks the sender when something was queued."""
        if not await self._polls_here(source):
            return PollResult(source.name, skipped=True)
        with self._tracked(), log_context(source=source.name):
            result = await self.engine.poll(source, self.http_session)
            if self.ops is not None:
                self.ops.metrics.polled(result)
            if result.health is not None:
                await self._tell_owner(source.name, result)
        if result.compacted:
            self.expansion.wake()
        if result.queued:
            await self.deliver()
        return result

    async def _polls_here(self, source: Source) -> bool:
        """Whether this process polls ``source`` now: always when it is the only one; in a cluster only the
        leader does. A leader just taking over (from one that died mid-interval) first waits until a poll
        interval has passed since any process last polled the source; after that its own ticks space them."""
        coordination = self.store.coordination
        if not coordination.clustered:
            return True
        if not await coordination.is_leader():
            self._taking_over = None
            return False
        if self._taking_over is None:  # just became the leader
            self._taking_over = {s.name for s in self.sources}
        if source.name not in self._taking_over:
            return True
        self._taking_over.discard(source.name)
        state = await self.store.source_state(source.name)
        last = None if state is None else state.last_attempt_at
        return last is None or self.clock() - last >= timedelta(seconds=source.poll_interval * POLL_SLACK)

    def _subscription_changed(self, subscription_id: int) -> None:
        """Another process (or this one) committed a change to a subscription: index it as it now is."""
        task = asyncio.create_task(self.engine.follow(subscription_id))
        self._following.add(task)
        task.add_done_callback(self._following.discard)

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
            self._deliver_again = False  # this run reads the outbox as it is now
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
        if hasattr(self, "expansion"):
            self.expansion.wake()  # the run made room in the outbox
        if self._deliver_again:
            self._deliver_soon()

    def _deliver_soon(self) -> None:
        """Start a delivery run for rows the expansion just queued; if one is running (it may have read the outbox
        before they were there), another right after it."""
        if self._stopping:
            return
        if self._deliver_lock.locked():
            self._deliver_again = True
            return
        task = asyncio.create_task(self.deliver())
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

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
        if hasattr(self, "expansion"):
            await self.expansion.stop(SHUTDOWN_GRACE_SECONDS)  # the chunk being expanded commits; the rest waits
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if hasattr(self, "_load_task") and not self._load_task.done():
            self._load_task.cancel()
            await asyncio.gather(self._load_task, return_exceptions=True)
        if hasattr(self, "engine"):
            self.engine.recommender.close()  # pending debounced refits
        await super().close()
        if self.ops is not None:
            await self.ops.close()
        if hasattr(self, "http_session"):
            await self.http_session.close()
        if hasattr(self, "store"):
            await self.store.close()
        if self.shared_pacer is not None:
            await self.shared_pacer.close()
