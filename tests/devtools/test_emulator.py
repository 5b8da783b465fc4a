"""Self-test: the real discord.py client logs in to the emulator, syncs, answers interactions and posts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.devtools.emulator import (
    DEFAULT_EVERYONE,
    MANAGE_CHANNELS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    DiscordEmulator,
)
from bot.devtools.world import discord_pointed_at

TOPICS = ["llm", "long-context", "retrieval", "vision"]
PAGES = ["alpha", "beta", "gamma"]


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


class Pager(discord.ui.View):
    """Pages through PAGES: "next" answers UPDATE_MESSAGE (type 7), "prev" DEFERRED_UPDATE_MESSAGE (type 6)
    and then edits @original. Only the invoking user may click."""

    def __init__(self, owner_id: int) -> None:
        super().__init__(timeout=60)
        self.owner_id = owner_id
        self.page = 0
        self.sync()

    def sync(self) -> None:
        self.prev.disabled = self.page == 0
        self.next.disabled = self.page == len(PAGES) - 1

    def content(self) -> str:
        return f"Page {self.page + 1}/{len(PAGES)}"

    def embed(self) -> discord.Embed:
        return discord.Embed(title="Papers", description=PAGES[self.page])

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("This pager is not yours.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Prev", custom_id="prev")
    async def prev(self, interaction: discord.Interaction, button: discord.ui.Button[Pager]) -> None:
        await interaction.response.defer()
        self.page -= 1
        self.sync()
        await interaction.edit_original_response(content=self.content(), embed=self.embed(), view=self)

    @discord.ui.button(label="Next", custom_id="next")
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Pager]) -> None:
        self.page += 1
        self.sync()
        await interaction.response.edit_message(content=self.content(), embed=self.embed(), view=self)


class Counter(discord.ui.View):
    """A persistent (stateless) view for plain channel messages: the count lives in the message."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="+1", custom_id="counter:add")
    async def add(self, interaction: discord.Interaction, button: discord.ui.Button[Counter]) -> None:
        assert interaction.message is not None
        count = int(interaction.message.content.split()[-1]) + 1
        await interaction.response.edit_message(content=f"clicks: {count}")

    @discord.ui.button(label="ack", custom_id="counter:ack")
    async def ack(self, interaction: discord.Interaction, button: discord.ui.Button[Counter]) -> None:
        await interaction.response.defer()

    @discord.ui.button(label="who", custom_id="counter:who")
    async def who(self, interaction: discord.Interaction, button: discord.ui.Button[Counter]) -> None:
        await interaction.response.send_message(f"clicked by {interaction.user.id}", ephemeral=True)


class Ballot(discord.ui.LayoutView):
    """Components v2: a button as a section accessory inside a container."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.votes = 0
        self.text = discord.ui.TextDisplay[Ballot]("votes: 0")
        button = discord.ui.Button[Ballot](label="vote", custom_id="ballot:vote")
        button.callback = self.vote  # type: ignore[method-assign]
        self.add_item(discord.ui.Container(discord.ui.Section(self.text, accessory=button)))

    async def vote(self, interaction: discord.Interaction) -> None:
        self.votes += 1
        self.text.content = f"votes: {self.votes}"
        await interaction.response.edit_message(view=self)


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

        @app_commands.command(name="pager", description="Pages with buttons")
        async def pager(interaction: discord.Interaction, public: bool = False, deferred: bool = False) -> None:
            view = Pager(interaction.user.id)
            if not deferred:
                await interaction.response.send_message(
                    view.content(), embed=view.embed(), view=view, ephemeral=not public
                )
                return
            await interaction.response.defer(ephemeral=not public, thinking=True)
            await interaction.followup.send(view.content(), embed=view.embed(), view=view, ephemeral=not public)
            second = Pager(interaction.user.id)
            await interaction.followup.send(second.content(), embed=second.embed(), view=second, ephemeral=not public)

        self.component_interactions: list[discord.Interaction] = []
        self.tree.add_command(ping)
        self.tree.add_command(serveronly)
        self.tree.add_command(slow)
        self.tree.add_command(pager)
        self.tree.add_command(make_feeds_group(), guild=self.dev_guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY; not needed against the emulator."""

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.component:
            self.component_interactions.append(interaction)

    async def setup_hook(self) -> None:
        self.add_view(Counter())  # persistent: answers its custom_ids on any message
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
    try:
        with discord_pointed_at(emulator):
            yield emulator
    finally:
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
        assert emu.internal_errors == []
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)


async def test_login_sync_and_content_type(world: World) -> None:
    emu = world.emu
    assert [c["name"] for c in emu.guild_commands[world.guild_id]] == ["feeds"]
    assert {c["name"] for c in emu.global_commands} == {"ping", "serveronly", "slow", "pager"}
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
        user_id=world.admin,
        name="feeds",
        subcommand="add",
        options={"channel": world.announcements, "topic": "llm"},
        guild_id=world.guild_id,
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
        user_id=world.admin,
        name="feeds",
        subcommand="add",
        options={"topic": "ng"},
        focused="topic",
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
    invoke = {
        "user_id": world.admin,
        "name": "feeds",
        "subcommand": "add",
        "guild_id": world.guild_id,
        "options": {"channel": world.general, "topic": "vision"},
    }
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
    channel = emu.add_channel(
        guild.id,
        "c",
        overwrites=[
            {"id": guild.id, "type": 0, "allow": "0", "deny": str(send)},
            {"id": role, "type": "role", "allow": str(send), "deny": "0"},
        ],
    )
    assert emu.permissions_for(guild.id, channel, user) & send
    emu.update_channel(
        channel,
        overwrites=[
            {"id": guild.id, "type": 0, "allow": "0", "deny": str(view)},
            {"id": user, "type": 1, "allow": str(view), "deny": "0"},
        ],
    )
    assert emu.permissions_for(guild.id, channel, user) & view
    assert emu.permissions_for(guild.id, channel, emu.bot_user_id) == 0  # no VIEW_CHANNEL -> nothing
    assert emu.permissions_for(guild.id, channel, emu.owner_id) == discord.Permissions.all().value


def buttons(message: dict[str, Any]) -> dict[str, bool]:
    """custom_id -> disabled for a message's buttons."""
    return {c["custom_id"]: bool(c.get("disabled")) for row in message["components"] for c in row["components"]}


async def test_click_pages_an_ephemeral_reply(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.pleb, name="pager", guild_id=world.guild_id)
    assert result.response_type == 4 and result.ephemeral
    msg = result.message
    assert msg["flags"] & 64 and msg["channel_id"] == str(world.general)
    assert msg["content"] == "Page 1/3" and buttons(msg) == {"prev": True, "next": False}

    first = await emu.click(user_id=world.pleb, message=msg, custom_id="next")
    assert first.response_type == 7 and first.ephemeral
    assert first.data["id"] == msg["id"] and first.message["id"] == msg["id"]
    assert first.content == "Page 2/3" and first.embeds[0]["description"] == "beta"
    assert buttons(first.message) == {"prev": False, "next": False}
    seen = world.bot.component_interactions[-1]
    assert seen.data == {"custom_id": "next", "component_type": 2}
    assert seen.message is not None and seen.message.id == int(msg["id"]) and seen.message.flags.ephemeral
    assert seen.message.interaction_metadata is not None
    assert seen.message.interaction_metadata.id == result.interaction_id

    second = await emu.click(user_id=world.pleb, message=first.message, custom_id="next")
    assert second.content == "Page 3/3" and second.embeds[0]["description"] == "gamma"
    assert buttons(second.message) == {"prev": False, "next": True}
    assert buttons(result.message) == {"prev": False, "next": True}  # the stored message was updated
    with pytest.raises(AssertionError, match="disabled"):
        await emu.click(user_id=world.pleb, message=msg, custom_id="next")  # the stale dict: state is current
    with pytest.raises(AssertionError, match="no component 'nope'"):
        await emu.click(user_id=world.pleb, message=msg, custom_id="nope")
    with pytest.raises(AssertionError, match="ephemeral"):
        await emu.click(user_id=world.admin, message=msg, custom_id="prev")  # others don't see it

    back = await emu.click(user_id=world.pleb, message=msg, custom_id="prev")  # type 6, then PATCH @original
    assert back.response_type == 6 and back.ephemeral and back.content == "Page 2/3"
    assert back.edits and back.data["id"] == msg["id"]
    assert buttons(back.message) == {"prev": False, "next": False}
    assert emu.messages(world.general, include_interaction_messages=True) == []


async def test_click_refused_by_interaction_check(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.pleb, name="pager", options={"public": True}, guild_id=world.guild_id)
    assert not result.ephemeral
    refused = await emu.click(user_id=world.admin, message=result.message, custom_id="next")
    assert refused.response_type == 4 and refused.ephemeral and refused.content == "This pager is not yours."
    assert refused.message["interaction_metadata"]["interacted_message_id"] == result.message["id"]
    assert result.message["content"] == "Page 1/3"
    ok = await emu.click(user_id=world.pleb, message=result.message, custom_id="next")
    assert ok.response_type == 7 and not ok.ephemeral and ok.content == "Page 2/3"
    [shown] = emu.messages(world.general, include_interaction_messages=True)  # the refusal was ephemeral
    assert shown["id"] == result.message["id"] and shown["content"] == "Page 2/3"


async def test_click_on_deferred_reply_and_followup(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.pleb, name="pager", options={"deferred": True}, guild_id=world.guild_id)
    assert result.response_type == 5 and result.ephemeral and result.content == "Page 1/3"
    await emu.wait_for_followups(result, 1)
    [followup] = result.followup_messages
    assert followup["id"] != result.message["id"] and buttons(followup) == {"prev": True, "next": False}
    clicked = await emu.click(user_id=world.pleb, message=followup, custom_id="next")
    assert clicked.data["id"] == followup["id"] and clicked.content == "Page 2/3"
    assert result.message["content"] == "Page 1/3"  # each message has its own view
    clicked = await emu.click(user_id=world.pleb, message=result.message, custom_id="next")
    assert clicked.data["id"] == result.message["id"] and clicked.content == "Page 2/3"


async def test_click_on_a_channel_message_with_a_persistent_view(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    view = Counter()
    await channel.send("clicks: 0", view=view)
    [msg] = emu.messages(world.general)
    first = await emu.click(user_id=world.pleb, message=msg, custom_id="counter:add")
    assert first.response_type == 7 and not first.ephemeral and first.content == "clicks: 1"
    view.stop()  # now only the persistent Counter added in setup_hook (no message id) can answer
    [msg] = emu.messages(world.general)
    assert msg["content"] == "clicks: 1"
    second = await emu.click(user_id=world.admin, message=msg, custom_id="counter:add")
    assert second.content == "clicks: 2" and emu.messages(world.general)[0]["content"] == "clicks: 2"
    acked = await emu.click(user_id=world.pleb, message=msg, custom_id="counter:ack", wait_for_edit=False)
    assert acked.response_type == 6 and acked.content == "clicks: 2"
    who = await emu.click(user_id=world.admin, message=msg, custom_id="counter:who")
    assert who.response_type == 4 and who.ephemeral and who.content == f"clicked by {world.admin}"

    pager = Pager(world.pleb)
    await channel.send("orphan", view=pager)
    pager.stop()  # nobody listens for its custom_ids any more: Discord shows "This interaction failed"
    with pytest.raises(TimeoutError):
        await emu.click(user_id=world.pleb, message=emu.messages(world.general)[-1], custom_id="next", timeout=0.3)


async def test_click_components_v2(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    await channel.send(view=Ballot())
    [msg] = emu.messages(world.general)
    assert msg["flags"] & (1 << 15)  # IS_COMPONENTS_V2
    assert DiscordEmulator.find_component(msg, "ballot:vote") is not None
    result = await emu.click(user_id=world.pleb, message=msg, custom_id="ballot:vote")
    assert result.response_type == 7
    texts = [c["content"] for c in DiscordEmulator.walk_components(result.components) if c["type"] == 10]
    assert texts == ["votes: 1"]


# --------------------------------------------------------------------------- faults and rate limits
AUTH = {"Authorization": f"Bot {DiscordEmulator.BOT_TOKEN}"}


async def get_statuses(emu: DiscordEmulator, paths: list[str]) -> list[tuple[int, dict[str, str]]]:
    """GET each path (bot-authenticated) in order; (status, headers) of each answer."""
    out = []
    async with aiohttp.ClientSession(headers=AUTH) as session:
        for path in paths:
            async with session.get(emu.api_base + path) as resp:
                out.append((resp.status, dict(resp.headers)))
    return out


async def test_random_faults_are_reproducible(emu: DiscordEmulator) -> None:
    me = ["/users/@me"] * 40
    emu.fail_randomly("GET", r"/users/@me", rate=0.5, seed=42)
    first = [status for status, _ in await get_statuses(emu, me)]
    emu.fail_randomly("GET", r"/users/@me", rate=0.5, seed=42)
    interleaved = [p for path in me for p in (path, f"/users/{emu.owner_id}")]  # non-matching: no RNG draw
    answers = await get_statuses(emu, interleaved)
    assert [status for status, _ in answers[::2]] == first
    assert {status for status, _ in answers[1::2]} == {200}
    assert {200, 429, 502} <= set(first) and 10 <= first.count(200) <= 30
    emu.fail_randomly("GET", r"/users/@me", rate=0.5, seed=43)
    assert [status for status, _ in await get_statuses(emu, me)] != first

    _, headers = next(a for a in answers if a[0] == 429)
    assert headers["Via"] and headers["X-RateLimit-Scope"] == "user" and headers["X-RateLimit-Remaining"] == "0"
    limited = next(r for r in emu.requests if r.status == 429)
    assert limited.response == {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
    assert next(r for r in emu.requests if r.status == 502).response == {"message": "502: Bad Gateway", "code": 0}

    emu.stop_failing_randomly()
    assert {status for status, _ in await get_statuses(emu, me[:5])} == {200}
    emu.fail_randomly("*", r"/users/.*", rate=1.0, faults=[(500, 0)], limit=3)
    assert [status for status, _ in await get_statuses(emu, me[:5])] == [500, 500, 500, 200, 200]
    emu.stop_failing_randomly()

    emu.fail_next("GET", r"/users/@me", status=429, retry_after=1.5, global_=True)
    [(status, headers)] = await get_statuses(emu, me[:1])
    assert status == 429 and headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert headers["Retry-After"] == "2" and emu.requests[-1].response["global"] is True
    async with aiohttp.ClientSession() as session, session.get(emu.api_base + "/users/@me") as resp:
        assert resp.status == 401  # no token
    all_429 = sum(1 for r in emu.requests if r.status == 429)
    assert emu.rate_limited_count == all_429
    assert emu.invalid_request_count == all_429 + 1
    assert len(emu.injected_faults) == sum(1 for r in emu.requests if r.status in (429, 500, 502))


async def test_bot_sends_through_random_faults(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    emu.fail_randomly("POST", posts, rate=0.3, seed=3)  # seed 3: 4x 429 and 2x 502 (~2 s of retry sleeps)
    for i in range(20):
        await channel.send(f"paper {i}")
    assert [m["content"] for m in emu.messages(world.general)] == [f"paper {i}" for i in range(20)]
    statuses = [r.status for r in emu.find_requests("POST", posts)]
    assert statuses.count(200) == 20 and {429, 502} <= set(statuses)
    assert len(statuses) == 20 + len(emu.injected_faults)


async def test_fail_after_create_and_the_nonce(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    emu.fail_after_create_next("POST", posts)  # created, then 502: discord.py retries with the same nonce
    sent = await channel.send("exactly once")
    assert [r.status for r in emu.find_requests("POST", posts)] == [502, 200]
    [stored] = emu.messages(world.general)
    assert stored["id"] == str(sent.id) and stored["content"] == "exactly once"

    emu.fail_after_create_next("POST", posts, status=500)
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=world.general)
    await world.bot.http.request(route, json={"content": "no nonce"})  # the retry posts a second copy
    assert [m["content"] for m in emu.messages(world.general)] == ["exactly once", "no nonce", "no nonce"]


async def test_global_429_holds_back_every_route(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    emu.fail_next("POST", posts, status=429, retry_after=0.5, global_=True)
    first = asyncio.create_task(channel.send("first"))
    await emu.wait_until(lambda: any(r.status == 429 for r in emu.find_requests("POST", posts)), 2)
    [limited] = [r for r in emu.find_requests("POST", posts) if r.status == 429]
    assert limited.response["global"] is True and limited.response["retry_after"] == 0.5
    assert limited.response_headers["X-RateLimit-Global"] == "true"
    assert limited.response_headers["X-RateLimit-Scope"] == "global" and limited.response_headers["Via"]
    await asyncio.sleep(0.05)  # discord.py has read the 429 and closed its global gate
    await world.bot.fetch_user(world.pleb)  # another route, another bucket: waits for the gate too
    [user_get] = emu.find_requests("GET", rf"/users/{world.pleb}")
    assert user_get.time - limited.time >= 0.45
    await first
    assert [r.status for r in emu.find_requests("POST", posts)] == [429, 200]


async def test_enforced_channel_bucket_paces_discord_py(world: World) -> None:
    emu = world.emu
    emu.enforce_rate_limits(channel_messages=(5, 1.0))
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    started = time.monotonic()
    for i in range(12):
        await channel.send(f"paced {i}")
    elapsed = time.monotonic() - started
    answered = emu.find_requests("POST", posts)
    assert [r.status for r in answered] == [200] * 12 and emu.rate_limited_count == 0
    assert elapsed >= 1.9  # two full windows waited for, on the headers alone
    assert [r.response_headers["X-RateLimit-Remaining"] for r in answered] == ["4", "3", "2", "1", "0"] * 2 + ["4", "3"]
    headers = answered[0].response_headers
    assert headers["X-RateLimit-Limit"] == "5" and 0 < float(headers["X-RateLimit-Reset-After"]) <= 1.0
    assert abs(float(headers["X-RateLimit-Reset"]) - time.time()) < 60

    other = emu.add_channel(world.guild_id, "firehose")  # a client that ignores the headers gets a 429
    async with aiohttp.ClientSession(headers=AUTH) as session:
        statuses = []
        for i in range(6):
            async with session.post(f"{emu.api_base}/channels/{other}/messages", json={"content": str(i)}) as resp:
                statuses.append(resp.status)
    assert statuses == [200] * 5 + [429]
    limited = emu.requests[-1]
    assert limited.response["global"] is False and 0 < limited.response["retry_after"] <= 1.0
    assert limited.response_headers["X-RateLimit-Scope"] == "user"
    assert limited.response_headers["X-RateLimit-Remaining"] == "0"
    assert limited.response_headers["X-RateLimit-Bucket"] == headers["X-RateLimit-Bucket"]  # one hash per route
    assert (emu.rate_limited_count, emu.invalid_request_count) == (1, 1)
    assert len(emu.messages(other)) == 5


async def test_global_limit_burst_recovers(world: World) -> None:
    emu = world.emu
    emu.enforce_rate_limits(global_per_second=10, channel_messages=(5, 1.0))
    channels = [emu.add_channel(world.guild_id, f"burst-{i}") for i in range(25)]
    await emu.wait_until(lambda: all(world.bot.get_channel(c) is not None for c in channels), 2)
    started = time.monotonic()
    await asyncio.gather(*(world.bot.get_channel(c).send(f"to {c}") for c in channels))  # type: ignore[union-attr]
    assert all([m["content"] for m in emu.messages(c)] == [f"to {c}"] for c in channels)
    limited = [r for r in emu.requests if r.status == 429]
    assert limited and emu.rate_limited_count == len(limited)
    assert all(r.response["global"] is True for r in limited)
    assert all(r.response_headers["X-RateLimit-Global"] == "true" for r in limited)
    posts = r"/channels/\d+/messages"
    assert emu.peak_requests(1.0, method="POST", path_pattern=posts, statuses=[200]) == 10
    rate = emu.requests_per_second(started, time.monotonic(), method="POST", path_pattern=posts, statuses=[200])
    assert 5 <= rate <= 15

    emu.enforce_rate_limits(global_per_second=1)  # interaction callbacks are exempt
    for _ in range(3):
        assert (await emu.invoke(user_id=world.pleb, name="ping", guild_id=world.guild_id)).content == "pong False"
    assert emu.rate_limited_count == len(limited)


async def test_history_newest_first_with_footers(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    sent = []
    for i in range(105):
        embed = discord.Embed(title=f"paper {i}").set_footer(text=f"arXiv · paperbot:{i:04d}")
        sent.append(await channel.send(embed=embed))
    emu.add_user_message(world.general, world.pleb, "impostor", embeds=[{"footer": {"text": "paperbot:0000"}}])

    def footers(messages: list[discord.Message]) -> list[str]:
        return [
            m.embeds[0].footer.text or "" if m.author.id == world.bot.user.id else "user"  # type: ignore[union-attr]
            for m in messages
        ]

    newest = [m async for m in channel.history(limit=100)]
    assert len(newest) == 100 and [m.id for m in newest] == sorted((m.id for m in newest), reverse=True)
    assert footers(newest[:3]) == ["user", "arXiv · paperbot:0104", "arXiv · paperbot:0103"]
    assert len([m async for m in channel.history(limit=None)]) == 106
    before = [m async for m in channel.history(limit=3, before=sent[50])]
    assert footers(before) == [f"arXiv · paperbot:{i:04d}" for i in (49, 48, 47)]
    after = [m async for m in channel.history(limit=3, after=sent[50])]  # oldest first by default
    assert footers(after) == [f"arXiv · paperbot:{i:04d}" for i in (51, 52, 53)]

    raw_after = await world.bot.http.logs_from(world.general, 100, after=sent[102].id)
    assert [m["embeds"][0]["footer"]["text"][-4:] for m in raw_after] == ["0000", "0104", "0103"]
    assert raw_after[0]["author"]["id"] == str(world.pleb)
    around = await world.bot.http.logs_from(world.general, 5, around=sent[50].id)
    assert [m["id"] for m in around] == [str(m.id) for m in reversed(sent[48:53])]
    with pytest.raises(discord.HTTPException) as exc:
        await world.bot.http.logs_from(world.general, 101)
    assert exc.value.status == 400 and exc.value.code == 50035

    emu.update_channel(
        world.general,
        overwrites=[
            {"id": world.guild_id, "type": 0, "allow": "0", "deny": str(READ_MESSAGE_HISTORY)},
        ],
    )
    assert await world.bot.http.logs_from(world.general, 10) == []  # Discord: no messages, no error
