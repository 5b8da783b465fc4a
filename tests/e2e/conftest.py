"""End-to-end harness: the real bot (discord.py client, SQLite file, scheduler) against loopback fakes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import PaperBot, point_client_at
from bot.config import settings_from_dict
from bot.devtools.emulator import DiscordEmulator
from bot.devtools.fakes.huggingface import FakeHuggingFace, fixture_items
from bot.devtools.fakes.rss import FakeFeed
from bot.devtools.world import LoopbackWorld, Server
from bot.store import Store


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def yesterday() -> str:
    return (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def titles(messages: list[dict[str, Any]]) -> list[str]:
    return [e["title"] for m in messages for e in m["embeds"]]


def arxiv_ids(messages: list[dict[str, Any]]) -> list[str]:
    ids = []
    for m in messages:
        for e in m["embeds"]:
            found = re.search(r"(?:arXiv )?(\S+)$", e["footer"]["text"])
            assert found, e["footer"]
            ids.append(found.group(1))
    return ids


class FakeClock:
    """A clock the test moves by hand; the bot reads it for every decision (polls, digests, retries)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        self.now = when

    def day(self) -> str:
        return self.now.date().isoformat()


#: What every e2e bot runs with unless a test's ``config`` says otherwise: fast polls and deliveries.
E2E_DEFAULTS: dict[str, Any] = {
    "sources": {"huggingface": {"poll_interval": 1, "timeout": 5}},
    "delivery": {"interval": 0.2},
}


@dataclass
class World:
    """The loopback world (Discord emulator, fake HF API), the test's server in it, and the bot under test."""

    loopback: LoopbackWorld
    server: Server
    db_path: Path
    #: The PostgreSQL database the bot uses instead of the SQLite file at ``db_path``, if any.
    storage_url: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    clock: FakeClock | None = None
    bot: PaperBot | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def emulator(self) -> DiscordEmulator:
        return self.loopback.emulator

    @property
    def hf(self) -> FakeHuggingFace:
        return self.loopback.hf

    @property
    def guild_id(self) -> int:
        return self.server.guild_id

    @property
    def channel_id(self) -> int:
        return self.server.channel_ids[0]

    @property
    def other_channel_id(self) -> int:
        return self.server.channel_ids[1]

    @property
    def moderator_id(self) -> int:
        return self.server.moderator_ids[0]

    @property
    def member_id(self) -> int:
        return self.server.member_ids[0]

    @property
    def storage(self) -> str:
        """Where the bot's database is, as ``Store.open`` takes it."""
        return self.storage_url or str(self.db_path)

    @property
    def storage_settings(self) -> dict[str, str]:
        """The ``[storage]`` table for this world's database."""
        return {"url": self.storage_url} if self.storage_url else {"path": str(self.db_path)}

    async def execute_sql(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Change the bot's database behind its back (a crash's leftovers), in SQL both drivers accept."""
        store = await Store.open(self.storage)
        try:
            async with store._db.transaction() as db:
                await db.execute(sql, params or {})
        finally:
            await store.close()

    def settings(self) -> Any:
        raw = self.loopback.settings(self.db_path, self.guild_id, E2E_DEFAULTS, self.config)
        raw["storage"] = {**raw["storage"], **self.storage_settings}
        return settings_from_dict(raw)

    async def start_bot(self) -> PaperBot:
        settings = self.settings()
        point_client_at(settings)
        bot = PaperBot(settings, clock=self.clock) if self.clock else PaperBot(settings)
        self.bot = bot
        self._task = asyncio.create_task(bot.start(DiscordEmulator.BOT_TOKEN))
        await self.emulator.wait_for_ready(timeout=15)
        await self.wait_until(lambda: bot.get_guild(self.guild_id) is not None, timeout=10)
        return bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
        self.bot, self._task = None, None

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if self._task is not None and self._task.done():
                self._task.result()  # surface the bot's crash
                raise AssertionError("the bot stopped")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out waiting for condition")
            await asyncio.sleep(0.05)

    async def polls_completed(self, count: int = 1, timeout: float = 10) -> None:
        """Wait until the bot has completed ``count`` more successful HF polls."""
        assert self.bot is not None
        store = self.bot.store
        state = await store.source_state("huggingface")
        target = (state.successes if state else 0) + count

        async def done() -> bool:
            now = await store.source_state("huggingface")
            return now is not None and now.successes >= target

        deadline = asyncio.get_running_loop().time() + timeout
        while not await done():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out waiting for a poll")
            await asyncio.sleep(0.05)

    async def outbox_drained(self, timeout: float = 10) -> None:
        """Wait until nothing is pending or in flight in the outbox."""
        assert self.bot is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.bot.store.outbox_depth():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out waiting for the outbox to drain")
            await asyncio.sleep(0.05)

    async def subscriptions(
        self, subcommand: str, *, user_id: int | None = None, channel_id: int | None = None, **options: Any
    ) -> Any:
        return await self._command("subscriptions", subcommand, user_id, channel_id, options)

    async def papers(self, subcommand: str, *, user_id: int | None = None, **options: Any) -> Any:
        """``/papers <subcommand>`` in the test channel, by the moderator unless ``user_id`` is given."""
        return await self._command("papers", subcommand, user_id, None, options)

    async def _command(
        self, name: str, subcommand: str, user_id: int | None, channel_id: int | None, options: dict[str, Any]
    ) -> Any:
        return await self.emulator.invoke(
            user_id=user_id or self.moderator_id,
            name=name,
            subcommand=subcommand,
            options=options,
            guild_id=self.guild_id,
            channel_id=channel_id or self.channel_id,
        )

    async def alerts(self, subcommand: str, *, user_id: int, in_dm: bool = False, **options: Any) -> Any:
        """``/alerts`` from the guild's channel, or from the user's DM with the bot."""
        where: dict[str, Any] = {} if in_dm else {"guild_id": self.guild_id, "channel_id": self.channel_id}
        return await self.emulator.invoke(
            user_id=user_id, name="alerts", subcommand=subcommand, options=options, **where
        )


#: The e2e modules that also run with the bot on PostgreSQL (delivery, crash recovery, subscriptions, alerts and
#: digests, search limits): all of them twice would double the suite's time for little more coverage of the store.
#: Elsewhere a test marked ``both_drivers`` runs on both: one that reaches SQL the dialects spell differently
#: (README, "Running the PostgreSQL tests locally", says which and why).
POSTGRES_MODULES = frozenset(
    {"test_subscriptions", "test_crash_recovery", "test_alerts_and_digests", "test_search_limits"}
)
CLUSTER_MODULES = frozenset({"test_cluster"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "e2e_driver" in metafunc.fixturenames:
        module = metafunc.module.__name__.rsplit(".", 1)[-1]
        both = module in POSTGRES_MODULES or metafunc.definition.get_closest_marker("both_drivers") is not None
        drivers = ["sqlite", "postgresql"] if both else ["sqlite"]
        if module in CLUSTER_MODULES:
            drivers = ["postgresql"]  # several processes on one database: what PostgreSQL is for
        metafunc.parametrize("e2e_driver", drivers)


@pytest.fixture
def e2e_storage_url(request: pytest.FixtureRequest, e2e_driver: str) -> str:
    """A new PostgreSQL database for the PostgreSQL variant of a test; "" for SQLite."""
    return request.getfixturevalue("pg_cluster").create_database() if e2e_driver == "postgresql" else ""


@pytest.fixture
async def world(tmp_path: Path, e2e_storage_url: str) -> AsyncIterator[World]:
    async with LoopbackWorld() as loopback:
        server = loopback.add_server("Reading group", ["papers", "lab"])
        w = World(loopback, server, tmp_path / "paperbot.db", storage_url=e2e_storage_url)
        try:
            yield w
        finally:
            await w.stop_bot()


@pytest.fixture
def items() -> list[dict[str, Any]]:
    return fixture_items()


@pytest.fixture
async def feed() -> AsyncIterator[FakeFeed]:
    """A generic RSS feed served on loopback."""
    server = FakeFeed("rss")
    await server.start()
    yield server
    await server.stop()
