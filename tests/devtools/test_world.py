"""The shared loopback world: servers, settings, discord.py's URLs, and the fakes' server base."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import discord

from bot.config import settings_from_dict
from bot.devtools.emulator import MANAGE_CHANNELS
from bot.devtools.fakes.huggingface import FakeHuggingFace, fixture_items
from bot.devtools.world import LoopbackWorld


async def test_discord_py_points_at_the_emulator_only_while_the_world_runs() -> None:
    base, gateway = discord.http.Route.BASE, str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    async with LoopbackWorld() as world:
        assert world.emulator.api_base == discord.http.Route.BASE
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == world.emulator.gateway_url
    assert base == discord.http.Route.BASE
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == gateway


async def test_add_server_builds_channels_moderators_and_members() -> None:
    async with LoopbackWorld() as world:
        server = world.add_server("Lab", ["papers", "lab"], moderators=["mod1", "mod2"], members=["reader"])
        emulator = world.emulator
        assert [emulator.channels[c].name for c in server.channel_ids] == ["papers", "lab"]
        assert server.moderator_role_id is not None
        for moderator in server.moderator_ids:
            assert emulator.permissions_for(server.guild_id, server.channel_ids[0], moderator) & MANAGE_CHANNELS
        assert not emulator.permissions_for(server.guild_id, server.channel_ids[0], server.member_ids[0]) & (
            MANAGE_CHANNELS
        )

        bare = world.add_server("Bench", moderators=(), members=())
        assert bare.moderator_role_id is None and bare.moderator_ids == [] and bare.member_ids == []
        assert len(emulator.guilds[bare.guild_id].roles) == 2  # @everyone and the bot's role


async def test_settings_overlays_merge_one_table_deep(tmp_path: Path) -> None:
    async with LoopbackWorld() as world:
        raw = world.settings(
            tmp_path / "bot.db",
            7,
            {"sources": {"huggingface": {"poll_interval": 1, "timeout": 5}}},
            {"sources": {"huggingface": {"timeout": 1}, "degraded_after": 2}, "discord": {"dev_guild_id": 0}},
        )
        settings = settings_from_dict(raw)
        assert settings.sources.huggingface.url == world.hf.url
        assert (settings.sources.huggingface.poll_interval, settings.sources.huggingface.timeout) == (1, 1)
        assert settings.discord.dev_guild_id == 0
        assert settings.discord.api_base_url == world.emulator.api_base


async def test_a_fake_serves_again_after_a_restart_and_stop_releases_held_requests() -> None:
    hf = FakeHuggingFace()
    await hf.start()
    await hf.stop()
    await hf.start()
    hf.publish("2026-11-02", fixture_items()[:3])
    hf.fail_next(200, stall=30)
    async with aiohttp.ClientSession() as http:
        held = asyncio.create_task(http.get(hf.url, params={"date": "2026-11-02"}))
        await asyncio.sleep(0.1)
        assert not held.done()
        await asyncio.wait_for(hf.stop(), 5)  # does not wait out the 30 s stall
        (await held).release()
        await hf.start()
        async with http.get(hf.url, params={"date": "2026-11-02"}) as response:
            assert len(await response.json()) == 3
    await hf.stop()


def test_the_fixture_ships_with_the_package() -> None:
    items = fixture_items()
    assert len(items) == 71 and all("paper" in item for item in items)
