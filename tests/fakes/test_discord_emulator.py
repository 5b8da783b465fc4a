"""Self-test: the real discord.py client logs in to the emulator, syncs, answers interactions and posts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_emulator import (
    DEFAULT_EVERYONE,
    MANAGE_CHANNELS,
    SEND_MESSAGES,
    DiscordEmulator,
)

TOPICS = ["llm", "long-context", "retrieval", "vision"]


def make_feeds_group() -> app_commands.Group:
    """A guild-only group that needs Manage Channels, like paperbot's admin commands."""
    group = app_commands.Group(
        name="feeds",
        description="Manage paper feeds",
        guild_only=True,
        default_permissions=discord.Permissions(manage_channels=True),
    )

    @group.command(name="add", description="Deliver a topic to a channel")
    async def add(interaction: discord.Interaction, channel: discord.TextChannel, topic: str) -> None:
        resolved = interaction.namespace.channel  # AppCommandChannel with the invoker's permissions
        await interaction.response.send_message(
            f"{topic} -> {channel.id} perms={resolved.permissions.value}", ephemeral=True
        )

    @add.autocomplete("topic")
    async def topic_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=t, value=t) for t in TOPICS if current in t]

    @group.command(name="digest", description="Build a digest (slow: defers)")
    async def digest(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await asyncio.sleep(0.01)
        await interaction.followup.send("digest ready", embed=discord.Embed(title="Top papers"))
        await interaction.followup.send("and one more thing")

    return group


class EmuBot(commands.Bot):
    def __init__(self, dev_guild_id: int) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents(guilds=True),
            guild_ready_timeout=0.1,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.dev_guild = discord.Object(dev_guild_id)

        @app_commands.command(name="ping", description="Works everywhere")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"pong {interaction.context.dm_channel}")

        @app_commands.command(name="serveronly", description="Guild-only global command")
        @app_commands.guild_only()
        async def serveronly(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("ok")

        @app_commands.command(name="slow", description="Answers too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            await interaction.response.send_message("late")

        self.tree.add_command(ping)
        self.tree.add_command(serveronly)
        self.tree.add_command(slow)
        self.tree.add_command(make_feeds_group(), guild=self.dev_guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY; not needed against the emulator."""

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.dev_guild)
        await self.tree.sync()


@dataclass
class World:
    emu: DiscordEmulator
    bot: EmuBot
    guild_id: int
    general: int
    announcements: int
    admin: int
    pleb: int


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator()
    await emulator.start()
    old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emulator.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
    try:
        yield emulator
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
        await emulator.stop()


@pytest.fixture
async def world(emu: DiscordEmulator) -> AsyncIterator[World]:
    guild = emu.add_guild("Papers")
    general = emu.add_channel(guild.id, "general")
    announcements = emu.add_channel(
        guild.id, "announcements", overwrites=[{"id": guild.id, "type": 0, "allow": "0", "deny": str(SEND_MESSAGES)}]
    )
    mods = emu.add_role(guild.id, "mods", MANAGE_CHANNELS)
    admin = emu.add_member(guild.id, name="mod", roles=[mods])
    pleb = emu.add_member(guild.id, name="reader")
    bot = EmuBot(guild.id)
    task = asyncio.create_task(bot.start(DiscordEmulator.BOT_TOKEN))
    try:
        await emu.wait_for_ready()
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        yield World(emu, bot, guild.id, general, announcements, admin, pleb)
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)


async def test_login_sync_and_content_type(world: World) -> None:
    emu = world.emu
    assert [c["name"] for c in emu.guild_commands[world.guild_id]] == ["feeds"]
    assert {c["name"] for c in emu.global_commands} == {"ping", "serveronly", "slow"}
    feeds = emu.guild_commands[world.guild_id][0]
    assert feeds["default_member_permissions"] == str(MANAGE_CHANNELS)
    assert world.bot.get_guild(world.guild_id) is not None
    assert world.bot.get_guild(world.guild_id).me is not None  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {DiscordEmulator.BOT_TOKEN}"}
        async with session.get(f"{emu.api_base}/users/@me", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
        async with session.get(f"{emu.api_base}/users/@me", headers={"Authorization": "Bot nope"}) as resp:
            assert resp.status == 401
    with pytest.raises(discord.NotFound):
        await world.bot.http.request(discord.http.Route("GET", "/nowhere"))
    assert emu.find_requests("GET", "/nowhere")[0].status == 404


async def test_bad_token_is_a_login_failure(emu: DiscordEmulator) -> None:
    client = discord.Client(intents=discord.Intents(guilds=True))
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("wrong-token")
    finally:
        await client.close()


async def test_invoke_ephemeral_reply_with_resolved_channel(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(
        user_id=world.admin, name="feeds", subcommand="add",
        options={"channel": world.announcements, "topic": "llm"}, guild_id=world.guild_id,
    )
    expected = emu.permissions_for(world.guild_id, world.announcements, world.admin)
    assert expected & SEND_MESSAGES == 0
    assert result.response_type == 4 and result.ephemeral
    assert result.content == f"llm -> {world.announcements} perms={expected}"
    assert emu.messages(world.general) == []  # ephemeral replies are not channel messages


async def test_deferred_then_followups(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.admin, name="feeds", subcommand="digest", guild_id=world.guild_id)
    assert result.response_type == 5 and result.ephemeral
    assert result.content == "digest ready" and result.embeds[0]["title"] == "Top papers"
    followups = await emu.wait_for_followups(result, 1)
    assert followups[0]["content"] == "and one more thing"


async def test_autocomplete(world: World) -> None:
    choices = await world.emu.autocomplete(
        user_id=world.admin, name="feeds", subcommand="add", options={"topic": "ng"}, focused="topic",
        guild_id=world.guild_id,
    )
    assert choices == [{"name": "long-context", "value": "long-context"}]


async def test_discord_side_gates(world: World) -> None:
    emu = world.emu
    with pytest.raises(PermissionError):
        await emu.invoke(user_id=world.pleb, name="feeds", subcommand="digest", guild_id=world.guild_id)
    with pytest.raises(AssertionError, match="command not synced"):
        await emu.invoke(user_id=world.admin, name="nope", guild_id=world.guild_id)
    with pytest.raises(PermissionError):
        await emu.invoke(user_id=world.pleb, name="serveronly")  # DM context excluded
    assert (await emu.invoke(user_id=world.pleb, name="serveronly", guild_id=world.guild_id)).content == "ok"
    dm = await emu.invoke(user_id=world.pleb, name="ping")
    assert dm.content == "pong True" and not dm.ephemeral


async def test_nonce_idempotency_and_limits(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("paper 1", nonce="digest-1")
    second = await channel.send("paper 1", nonce="digest-1")
    assert first.id == second.id
    [msg] = emu.messages(world.general)
    assert msg["nonce"] == "digest-1" and msg["allowed_mentions"] == {"parse": []}
    with pytest.raises(discord.HTTPException) as exc:
        await channel.send(embed=discord.Embed(title="x" * 257))
    assert exc.value.status == 400 and exc.value.code == 50035
    with pytest.raises(discord.HTTPException) as exc:
        await channel.send(embeds=[discord.Embed(description="y" * 4000) for _ in range(2)])
    assert exc.value.code == 50035
    assert len(emu.messages(world.general)) == 1


async def test_429_is_retried_once(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    emu.fail_next("POST", r"/channels/\d+/messages", status=429, retry_after=0.05)
    await channel.send("after a rate limit")
    assert [r.status for r in emu.find_requests("POST", rf"/channels/{world.general}/messages")] == [429, 200]
    assert [m["content"] for m in await emu.wait_for_messages(world.general, 1)] == ["after a rate limit"]


async def test_forbidden_channel_and_closed_dms(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    emu.set_channel_error(world.general, 403, 50013)
    with pytest.raises(discord.Forbidden) as exc:
        await channel.send("nope")
    assert exc.value.code == 50013
    emu.clear_channel_error(world.general)
    await channel.send("yes")
    with pytest.raises(discord.Forbidden) as exc:  # real permission computation: @everyone can't send here
        await world.bot.get_channel(world.announcements).send("hi")  # type: ignore[union-attr]
    assert exc.value.code == 50013

    closed = emu.add_user("hermit", dms_closed=True)
    with pytest.raises(discord.Forbidden) as exc:
        await (await world.bot.fetch_user(closed)).send("hello")
    assert exc.value.code == 50007
    reader = await world.bot.fetch_user(world.pleb)
    await reader.send("your digest")
    dm = emu.dm_channel_id(world.pleb)
    assert dm is not None and [m["content"] for m in emu.messages(dm)] == ["your digest"]


async def test_gateway_resume_and_reidentify(world: World) -> None:
    emu = world.emu
    invoke = {"user_id": world.admin, "name": "feeds", "subcommand": "add", "guild_id": world.guild_id,
              "options": {"channel": world.general, "topic": "vision"}}
    await emu.drop_gateway()
    late_channel = emu.add_channel(world.guild_id, "added-while-down")  # CHANNEL_CREATE is replayed on RESUME
    assert (await emu.invoke(**invoke)).content.startswith("vision")  # type: ignore[arg-type]
    assert (emu.identify_count, emu.resume_count) == (1, 1)
    await emu.wait_until(lambda: world.bot.get_channel(late_channel) is not None, 2)
    await emu.send_reconnect()
    assert (await emu.invoke(**invoke)).content.startswith("vision")  # type: ignore[arg-type]
    assert (emu.identify_count, emu.resume_count) == (1, 2)
    await emu.invalidate_session(resumable=False)
    assert (await emu.invoke(**invoke)).content.startswith("vision")  # type: ignore[arg-type]
    assert (emu.identify_count, emu.resume_count) == (2, 2)


async def test_late_interaction_response_is_reported(world: World) -> None:
    world.emu.interaction_deadline = 0.1
    with pytest.raises(AssertionError, match="after"):
        await world.emu.invoke(user_id=world.admin, name="slow", guild_id=world.guild_id)


def test_permissions_for_algorithm() -> None:
    emu = DiscordEmulator()
    guild = emu.add_guild("g", everyone_permissions=DEFAULT_EVERYONE)
    role = emu.add_role(guild.id, "writers", 0)
    user = emu.add_member(guild.id, roles=[role])
    view, send = 1 << 10, SEND_MESSAGES
    channel = emu.add_channel(guild.id, "c", overwrites=[
        {"id": guild.id, "type": 0, "allow": "0", "deny": str(send)},
        {"id": role, "type": "role", "allow": str(send), "deny": "0"},
    ])
    assert emu.permissions_for(guild.id, channel, user) & send
    emu.update_channel(channel, overwrites=[
        {"id": guild.id, "type": 0, "allow": "0", "deny": str(view)},
        {"id": user, "type": 1, "allow": str(view), "deny": "0"},
    ])
    assert emu.permissions_for(guild.id, channel, user) & view
    assert emu.permissions_for(guild.id, channel, emu.bot_user_id) == 0  # no VIEW_CHANNEL -> nothing
    assert emu.permissions_for(guild.id, channel, emu.owner_id) == discord.Permissions.all().value
