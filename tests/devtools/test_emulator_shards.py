"""The emulator shards like Discord: /gateway/bot recommends a count, each IDENTIFY gets its shard's guilds,
events and interactions go to the guild's shard (DMs to shard 0), bad or doubled shards are closed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest

from bot.devtools.emulator import DiscordEmulator
from bot.devtools.world import discord_pointed_at

AUTH = {"Authorization": f"Bot {DiscordEmulator.BOT_TOKEN}"}


class RawShard:
    """A bare gateway client: IDENTIFY as one shard, read what the emulator sends."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def read_until(self, predicate: Any, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                msg = await self.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    return
                frame = json.loads(msg.data)
                if frame["op"] == 0:
                    self.events.append((frame["t"], frame["d"]))

    def guild_creates(self) -> set[int]:
        return {int(d["id"]) for t, d in self.events if t == "GUILD_CREATE"}


@asynccontextmanager
async def raw_shard(emu: DiscordEmulator, shard: Any) -> AsyncIterator[RawShard]:
    async with aiohttp.ClientSession() as session, session.ws_connect(emu.gateway_url) as ws:
        hello = json.loads((await ws.receive()).data)
        assert hello["op"] == 10
        d: dict[str, Any] = {"token": DiscordEmulator.BOT_TOKEN, "intents": 1, "properties": {}}
        if shard is not None:
            d["shard"] = shard
        await ws.send_str(json.dumps({"op": 2, "d": d}))
        yield RawShard(ws)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def test_gateway_bot_recommends_the_configured_shard_count(emu: DiscordEmulator) -> None:
    emu.shard_count = 3
    async with aiohttp.ClientSession() as session, session.get(f"{emu.api_base}/gateway/bot", headers=AUTH) as resp:
        body = await resp.json()
    assert body == {
        "url": emu.gateway_url,
        "shards": 3,
        "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 86400000, "max_concurrency": 1},
    }


async def test_guild_ids_spread_across_shards(emu: DiscordEmulator) -> None:
    guilds = [emu.add_guild(f"g{i}").id for i in range(6)]
    assert sorted((g >> 22) % 3 for g in guilds) == [0, 0, 1, 1, 2, 2]


async def test_each_shard_gets_only_its_guilds_and_events(emu: DiscordEmulator) -> None:
    guilds = [emu.add_guild(f"g{i}").id for i in range(4)]
    mine = {s: {g for g in guilds if (g >> 22) % 2 == s} for s in (0, 1)}
    async with raw_shard(emu, [0, 2]) as zero, raw_shard(emu, [1, 2]) as one:
        for shard, conn in ((0, zero), (1, one)):
            await conn.read_until(lambda c=conn, s=shard: c.guild_creates() == mine[s])
            ready = next(d for t, d in conn.events if t == "READY")
            assert ready["shard"] == [shard, 2]
            assert {int(g["id"]) for g in ready["guilds"]} == mine[shard]
        assert emu.live_shards() == [0, 1]
        # A guild added later, and a channel in an existing guild: only their shard hears of them.
        new = emu.add_guild("late").id
        channel = emu.add_channel(guilds[1], "news")
        owner = {0: zero, 1: one}
        await owner[(new >> 22) % 2].read_until(lambda: new in owner[(new >> 22) % 2].guild_creates())
        other = owner[1 - (guilds[1] >> 22) % 2]
        await owner[(guilds[1] >> 22) % 2].read_until(
            lambda: any(t == "CHANNEL_CREATE" for t, _ in owner[(guilds[1] >> 22) % 2].events)
        )
        assert new not in owner[1 - (new >> 22) % 2].guild_creates()
        assert not any(t == "CHANNEL_CREATE" and int(d["id"]) == channel for t, d in other.events)


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], [0], "0,1", [True, 2]])
async def test_invalid_shard_is_closed_with_4010(emu: DiscordEmulator, shard: Any) -> None:
    async with raw_shard(emu, shard) as conn:
        msg = await conn.ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert conn.ws.close_code == 4010
    assert emu.refused_identifies == [(4010, "Invalid shard.")]
    assert emu.live_shards() == []


async def test_a_shard_identified_twice_or_with_another_count_is_refused(emu: DiscordEmulator) -> None:
    emu.add_guild("g")
    async with raw_shard(emu, [1, 2]) as first:
        await first.read_until(lambda: any(t == "READY" for t, _ in first.events))
        for shard in ([1, 2], [0, 3]):
            async with raw_shard(emu, shard) as second:
                await second.ws.receive()
                assert second.ws.close_code == 4010
        assert emu.live_shards() == [1]
    assert [code for code, _ in emu.refused_identifies] == [4010, 4010]


async def test_too_many_guilds_on_one_shard_is_4011(emu: DiscordEmulator) -> None:
    emu.max_guilds_per_shard = 2
    for i in range(3):
        emu.add_guild(f"g{i}")
    async with raw_shard(emu, None) as unsharded:
        await unsharded.ws.receive()
        assert unsharded.ws.close_code == 4011
    async with raw_shard(emu, [0, 2]) as half:
        await half.read_until(lambda: any(t == "READY" for t, _ in half.events))
    assert emu.refused_identifies == [(4011, "Sharding required.")]


async def test_discord_py_auto_sharded_client_splits_guilds_and_interactions(emu: DiscordEmulator) -> None:
    """The real client: asks /gateway/bot, connects 2 shards, and sees each guild on its shard; a guild's
    interaction arrives on the guild's shard and a DM interaction on shard 0."""
    emu.shard_count = 2
    guilds = [emu.add_guild(f"g{i}").id for i in range(4)]
    user = emu.add_user("reader")
    for g in guilds:
        emu.add_member(g, user_id=user)
    seen: list[tuple[int | None, int | None]] = []  # (shard, guild) of each interaction received

    class Client(discord.AutoShardedClient):
        async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
            return None  # Discord's 5 s between IDENTIFYs is not this test's subject

        async def on_interaction(self, interaction: discord.Interaction) -> None:
            seen.append((interaction.guild and interaction.guild.shard_id, interaction.guild_id))
            await interaction.response.send_message("ok")

    client = Client(intents=discord.Intents(guilds=True))
    tree = discord.app_commands.CommandTree(client)

    @tree.command(name="ping", description="ping")
    async def ping(interaction: discord.Interaction) -> None:
        return None

    with discord_pointed_at(emu):
        await _run_and_invoke(emu, client, tree, guilds, user, seen)


async def _run_and_invoke(
    emu: DiscordEmulator,
    client: discord.AutoShardedClient,
    tree: discord.app_commands.CommandTree[discord.AutoShardedClient],
    guilds: list[int],
    user: int,
    seen: list[tuple[int | None, int | None]],
) -> None:
    task = asyncio.create_task(client.start(DiscordEmulator.BOT_TOKEN))
    try:
        await emu.wait_until(lambda: emu.live_shards() == [0, 1] and client.is_ready(), timeout=20)
        await tree.sync()
        assert {g.id: g.shard_id for g in client.guilds} == {g: (g >> 22) % 2 for g in guilds}
        for g in guilds:
            await emu.invoke(user_id=user, name="ping", guild_id=g, channel_id=emu.add_channel(g, "c"))
        await emu.invoke(user_id=user, name="ping")
        assert seen == [((g >> 22) % 2, g) for g in guilds] + [(None, None)]
        interactions = {
            shard: [e["d"].get("guild_id") for e in emu.dispatched(shard) if e["t"] == "INTERACTION_CREATE"]
            for shard in (0, 1)
        }
        assert interactions == {
            0: [str(g) for g in guilds if (g >> 22) % 2 == 0] + [None],  # the DM on shard 0
            1: [str(g) for g in guilds if (g >> 22) % 2 == 1],
        }
        assert sorted(emu.identified_shards) == [(0, 2), (1, 2)]
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)
