"""One loopback world for e2e tests, benchmarks and ``paperbot demo``.

``LoopbackWorld`` starts the Discord emulator and the fake Hugging Face API, points discord.py at the emulator
(restoring its URLs on stop), builds servers with channels, a moderators' role and members, and writes the
settings a bot needs to run in it::

    async with LoopbackWorld() as world:
        server = world.add_server("Reading group", ["papers", "lab"])
        settings = settings_from_dict(world.settings(db_path, server.guild_id))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import discord
import yarl

from bot.devtools.emulator import MANAGE_CHANNELS, DiscordEmulator
from bot.devtools.fakes.huggingface import FakeHuggingFace


@dataclass
class Server:
    """A guild ``LoopbackWorld.add_server`` built, and who is in it."""

    guild_id: int
    channel_ids: list[int]
    moderator_role_id: int | None  # None when the server has no moderators
    moderator_ids: list[int]
    member_ids: list[int]


@contextlib.contextmanager
def discord_pointed_at(emulator: DiscordEmulator) -> Iterator[None]:
    """Send discord.py's REST and gateway traffic to ``emulator`` (started); restore its URLs afterwards."""
    gateway = discord.gateway.DiscordWebSocket
    saved_base, saved_gateway = discord.http.Route.BASE, yarl.URL(str(gateway.DEFAULT_GATEWAY))
    discord.http.Route.BASE = emulator.api_base
    gateway.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = saved_base
        gateway.DEFAULT_GATEWAY = saved_gateway


class LoopbackWorld:
    """The Discord emulator and the fake Hugging Face API on 127.0.0.1, between ``start()`` and ``stop()``
    (or ``async with``)."""

    def __init__(self) -> None:
        self.emulator = DiscordEmulator()
        self.hf = FakeHuggingFace()
        self._pointed = contextlib.ExitStack()

    async def start(self) -> None:
        """Start both servers and point discord.py at the emulator."""
        await self.emulator.start()
        await self.hf.start()
        self._pointed.enter_context(discord_pointed_at(self.emulator))

    async def stop(self) -> None:
        """Stop both servers (stop the bot first) and restore discord.py's URLs."""
        try:
            await self.hf.stop()
            await self.emulator.stop()
        finally:
            self._pointed.close()

    async def __aenter__(self) -> LoopbackWorld:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def add_server(
        self,
        name: str,
        channels: Sequence[str] = ("papers",),
        *,
        moderators: Sequence[str] = ("mod",),
        members: Sequence[str] = ("reader",),
    ) -> Server:
        """A guild with these text channels, a "mods" role with Manage Channels held by one new member per
        name in ``moderators`` (no role without moderators), and one plain member per name in ``members``."""
        emulator = self.emulator
        guild_id = emulator.add_guild(name).id
        channel_ids = [emulator.add_channel(guild_id, channel) for channel in channels]
        role_id, moderator_ids = None, []
        if moderators:
            role_id = emulator.add_role(guild_id, "mods", MANAGE_CHANNELS)
            moderator_ids = [emulator.add_member(guild_id, name=mod, roles=[role_id]) for mod in moderators]
        member_ids = [emulator.add_member(guild_id, name=member) for member in members]
        return Server(guild_id, channel_ids, role_id, moderator_ids, member_ids)

    def settings(self, db_path: Path, guild_id: int, *overlays: dict[str, Any]) -> dict[str, Any]:
        """Raw settings (what ``settings_from_dict`` takes) for a bot in this world: REST and gateway on the
        emulator, slash commands synced to ``guild_id`` (0: globally), Hugging Face on the fake, the database
        at ``db_path``. Each overlay's sections are merged in order, tables one level deep (an overlay's
        ``{"sources": {"huggingface": {"timeout": 1}}}`` keeps the fake's URL)."""
        raw: dict[str, Any] = {
            "discord": {
                "api_base_url": self.emulator.api_base,
                "gateway_url": self.emulator.gateway_url,
                "dev_guild_id": guild_id,
            },
            "storage": {"path": str(db_path)},
            "sources": {"huggingface": {"url": self.hf.url}},
        }
        for overlay in overlays:
            for section, values in overlay.items():
                target = raw.setdefault(section, {})
                for key, value in values.items():
                    if isinstance(value, dict):
                        target.setdefault(key, {}).update(value)
                    else:
                        target[key] = value
        return raw
