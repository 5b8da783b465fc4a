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


#: ``interaction.extras`` key: the deferred "thinking" placeholder has been replaced by the answer.
_PLACEHOLDER_ANSWERED = "paperbot.placeholder_answered"


async def send_reply(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embeds: Sequence[discord.Embed] = (),
    ephemeral: bool = True,
    view: discord.ui.View | None = None,
) -> None:
    """Send one message answering an interaction: the first answer after a "thinking" deferral edits the
    original response (the placeholder the user is looking at: Discord's documented way, whatever a followup
    would do), a first answer without deferral is the interaction response, and anything later is a followup.
    An edited placeholder keeps the deferral's visibility (``ephemeral`` then has no effect)."""
    none = discord.AllowedMentions.none()
    extra: dict[str, Any] = {} if view is None else {"view": view}
    response = interaction.response
    if not response.is_done():
        await response.send_message(
            content=content, embeds=list(embeds), ephemeral=ephemeral, allowed_mentions=none, **extra
        )
    elif response.type is discord.InteractionResponseType.deferred_channel_message and not interaction.extras.get(
        _PLACEHOLDER_ANSWERED
    ):
        await interaction.edit_original_response(content=content, embeds=list(embeds), allowed_mentions=none, **extra)
        interaction.extras[_PLACEHOLDER_ANSWERED] = True
    else:
        await interaction.followup.send(
            content=content or discord.utils.MISSING,
            embeds=list(embeds),
            ephemeral=ephemeral,
            allowed_mentions=none,
            **extra,
        )


async def reply(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embeds: Sequence[Embed] = (),
    ephemeral: bool = True,
) -> None:
    """Answer an interaction whether or not it was deferred (see ``send_reply``); splits embeds across
    messages as needed."""
    for index, batch in enumerate(pack_messages(embeds) or [[]]):
        text = trim(content, MAX_CONTENT) if content and index == 0 else None
        await send_reply(interaction, text, embeds=[discord.Embed.from_dict(e) for e in batch], ephemeral=ephemeral)


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
    """A per-user, per-command rate limit (a fresh bucket for each command it decorates), per bot: a cog's
    commands are made once per process, which may run several bots (the tests do)."""
    return app_commands.checks.cooldown(rate, per, key=lambda i: (id(i.client), i.user.id))


async def timezone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=z, value=z) for z in timezone_choices(current)]


WEEKDAY_CHOICES = [app_commands.Choice(name=name, value=key) for key, name in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)]
