"""Reply and formatting helpers every cog uses: safe inline code, ephemeral replies that split embeds across
messages, line lists as embeds, per-user cooldowns, and the digest-settings option helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import discord
from discord import app_commands

from bot.delivery.render import Embed, pack_messages, trim
from bot.delivery.schedule import timezone_choices
from bot.models import WEEKDAY_NAMES, WEEKDAYS

MAX_LINES_EMBED_CHARS = 4000
MAX_CONTENT = 2000
AUTOCOMPLETE_LIMIT = 25


def code(text: str) -> str:
    """Show user text inside inline code safely (backticks would end the span)."""
    return "`" + text.replace("`", "ʼ") + "`"


def relative_time(when: datetime | None) -> str:
    return "unknown" if when is None else discord.utils.format_dt(when, "R")


async def reply(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embeds: Sequence[Embed] = (),
    ephemeral: bool = True,
) -> None:
    """Answer an interaction whether or not it was deferred; splits embeds across messages as needed."""
    messages = pack_messages(embeds) or [[]]
    for index, batch in enumerate(messages):
        text = trim(content, MAX_CONTENT) if content and index == 0 else None
        as_embeds = [discord.Embed.from_dict(e) for e in batch]
        none = discord.AllowedMentions.none()
        if interaction.response.is_done():
            await interaction.followup.send(
                content=text or discord.utils.MISSING, embeds=as_embeds, ephemeral=ephemeral, allowed_mentions=none
            )
        else:
            await interaction.response.send_message(
                content=text, embeds=as_embeds, ephemeral=ephemeral, allowed_mentions=none
            )


def line_embeds(title: str, lines: Sequence[str], colour: int = 0x5865F2) -> list[Embed]:
    """Put lines into as many embeds as needed, each description under Discord's limits."""
    embeds: list[Embed] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + len(line) + 1 > MAX_LINES_EMBED_CHARS:
            embeds.append({"description": "\n".join(current), "color": colour})
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        embeds.append({"description": "\n".join(current), "color": colour})
    if embeds:
        embeds[0]["title"] = title
    return embeds


def user_cooldown(rate: int = 5, per: float = 10.0) -> Callable[[Any], Any]:
    """A per-user, per-command rate limit (a fresh bucket for each command it decorates)."""
    return app_commands.checks.cooldown(rate, per, key=lambda i: i.user.id)


async def timezone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=z, value=z) for z in timezone_choices(current)]


WEEKDAY_CHOICES = [app_commands.Choice(name=name, value=key) for key, name in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)]
