"""The emulator self-tests' harness: a small discord.py bot (commands, views, a persistent view, a components
v2 layout) run against the emulator in one guild."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.devtools.emulator import MANAGE_CHANNELS, SEND_MESSAGES, DiscordEmulator
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
        await interaction.edit_original_response(content="digest ready", embed=discord.Embed(title="Top papers"))
        await interaction.followup.send("and one more thing")

    @group.command(name="notify", description="Defers, then only sends a followup (never edits the original)")
    async def notify(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("done", ephemeral=True)

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
            await interaction.edit_original_response(content=view.content(), embed=view.embed(), view=view)
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
