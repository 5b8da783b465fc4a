"""The demo session's building blocks in-process: the script's ``Click`` step finds a control by its action word
on the newest message that has one and clicks it through the emulator (the hook the paper controls plug into)."""

from __future__ import annotations

import io

import discord

from bot.demo.script import Click, Type
from bot.demo.session import READER, STAFF, DemoSession


async def test_click_finds_the_control_by_action_word_and_prints_the_answer():
    out = io.StringIO()
    clicks: list[int] = []

    class Controls(discord.ui.View):
        @discord.ui.button(label="Like", emoji="👍", custom_id="paper:like:2403.10778")
        async def like(self, interaction: discord.Interaction, button: discord.ui.Button[Controls]) -> None:
            clicks.append(interaction.user.id)
            await interaction.response.send_message("Noted: you like 2403.10778", ephemeral=True)

    async with DemoSession(out) as session:
        assert session.bot is not None
        channel = session.bot.get_channel(session.channel_id("papers"))
        assert isinstance(channel, discord.TextChannel)
        await channel.send("an older message without controls")
        await channel.send("a paper", view=Controls(timeout=None))
        await channel.send("a newer message without controls")
        await Click(READER, "papers", "like").run(session)
        reader = session.user_id(READER)
        await Type(STAFF, "/papers help").run(session)
    assert clicks == [reader]
    text = out.getvalue()
    assert "ben clicks Like in #papers" in text and "Noted: you like 2403.10778" in text
    assert "ada in #general: /papers help" in text and "Query language" in text
