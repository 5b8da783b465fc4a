"""End-to-end harness: the real bot (discord.py client, SQLite file, scheduler) against loopback fakes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl

from bot.app import PaperBot, point_client_at
from bot.config import settings_from_dict
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.huggingface import FakeHuggingFace, fixture_items

MANAGE_CHANNELS = 1 << 4


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


@dataclass
class World:
    """The emulated Discord server, the fake HF API, and the bot under test."""

    emulator: DiscordEmulator
    hf: FakeHuggingFace
    db_path: Path
    guild_id: int
    channel_id: int
    other_channel_id: int
    moderator_id: int
    member_id: int
    config: dict[str, Any] = field(default_factory=dict)
    clock: FakeClock | None = None
    bot: PaperBot | None = None
    _task: asyncio.Task[None] | None = None

    def settings(self) -> Any:
        raw = {
            "discord": {
                "api_base_url": self.emulator.api_base,
                "gateway_url": self.emulator.gateway_url,
                "dev_guild_id": self.guild_id,
            },
            "storage": {"path": str(self.db_path)},
            "sources": {"huggingface": {"url": self.hf.url, "poll_interval": 1, "timeout": 5}},
            "delivery": {"interval": 0.2},
        }
        for section, values in self.config.items():
            raw.setdefault(section, {}).update(values)
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
        return await self.emulator.invoke(
            user_id=user_id or self.moderator_id,
            name="subscriptions",
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


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        yarl.URL(str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)),
    )
    emulator = DiscordEmulator()
    await emulator.start()
    hf = FakeHuggingFace()
    await hf.start()
    guild = emulator.add_guild("Reading group")
    guild_id = guild.id if hasattr(guild, "id") else int(guild)  # type: ignore[arg-type]
    channel_id = emulator.add_channel(guild_id, "papers")
    other_channel_id = emulator.add_channel(guild_id, "lab")
    mods = emulator.add_role(guild_id, "mods", MANAGE_CHANNELS)
    moderator_id = emulator.add_member(guild_id, name="mod", roles=[mods])
    member_id = emulator.add_member(guild_id, name="reader")
    w = World(emulator, hf, tmp_path / "paperbot.db", guild_id, channel_id, other_channel_id, moderator_id, member_id)
    yield w
    await w.stop_bot()
    await hf.stop()
    await emulator.stop()


@pytest.fixture
def items() -> list[dict[str, Any]]:
    return fixture_items()
