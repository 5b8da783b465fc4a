"""Helpers shared by the slash-command cogs: replies, query parsing, formatting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bot.delivery.render import Embed, pack_messages
from bot.matching import Query, QueryError, parse_query

MAX_LINES_EMBED_CHARS = 4000


class UserFacingError(Exception):
    """An error the user caused; its message is shown to them ephemerally."""


def parse_user_query(text: str) -> Query:
    """Parse a query typed by a user, turning parser errors into a friendly message."""
    try:
        return parse_query(text)
    except QueryError as exc:
        raise UserFacingError(f"That query can't be used: {exc}") from exc


def code(text: str) -> str:
    """Show user text inside inline code safely (backticks would end the span)."""
    return "`" + text.replace("`", "ʼ") + "`"


def relative_time(when: datetime | None) -> str:
    return "unknown" if when is None else discord.utils.format_dt(when, "R")


async def reply(interaction: discord.Interaction, content: str | None = None, *,
                embeds: Sequence[Embed] = (), ephemeral: bool = True) -> None:
    """Answer an interaction whether or not it was deferred; splits embeds across messages as needed."""
    messages = pack_messages(embeds) or [[]]
    for index, batch in enumerate(messages):
        text = content if index == 0 else None
        as_embeds = [discord.Embed.from_dict(e) for e in batch]
        none = discord.AllowedMentions.none()
        if interaction.response.is_done():
            await interaction.followup.send(content=text or discord.utils.MISSING, embeds=as_embeds,
                                            ephemeral=ephemeral, allowed_mentions=none)
        else:
            await interaction.response.send_message(content=text, embeds=as_embeds, ephemeral=ephemeral,
                                                    allowed_mentions=none)


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
