"""Forum targets for ``/subscriptions add``: the ``tags`` option (comma-separated names of tags on the forum),
checked against the forum and autocompleted from it."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.cogs.ui import AUTOCOMPLETE_LIMIT, code
from bot.delivery.forum import MAX_TAGS
from bot.delivery.render import trim
from bot.tree import UserFacingError


class PostableChannel(app_commands.transformers.UnionChannelTransformer[discord.Client]):
    """The ``channel`` option of ``/subscriptions add``: text, announcement and forum channels.

    Annotating ``TextChannel | ForumChannel`` would also offer media channels (type 16), which papers are not
    posted to and which Discord's API specification does not list among an option's channel types."""

    def __init__(self) -> None:
        super().__init__(discord.TextChannel, discord.ForumChannel)
        self._channel_types = [discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.forum]


TAGS_DESCRIPTION = "Forums only: comma-separated tags each post gets, e.g. nlp, vision (tags on that forum)"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _listing(forum: discord.ForumChannel) -> str:
    names = [code(tag.name) for tag in forum.available_tags]
    return f"Its tags: {', '.join(names)}." if names else "It has no tags."


def resolve_tags(forum: discord.ForumChannel, text: str | None) -> list[discord.ForumTag]:
    """The forum's tags named in ``text`` (case-insensitive, each once); an unknown name or more than Discord's
    five raise a UserFacingError naming the forum's tags."""
    by_name = {tag.name.casefold(): tag for tag in forum.available_tags}
    chosen: dict[int, discord.ForumTag] = {}
    for name in _names(text or ""):
        tag = by_name.get(name.casefold())
        if tag is None:
            raise UserFacingError(f"{forum.mention} has no tag {code(trim(name, 50))}. {_listing(forum)}")
        chosen[tag.id] = tag
    if len(chosen) > MAX_TAGS:
        raise UserFacingError(f"A forum post can have at most {MAX_TAGS} tags; you gave {len(chosen)}.")
    if forum.flags.require_tag and not chosen:
        raise UserFacingError(
            f"{forum.mention} requires a tag on every post: choose some with `tags:`. {_listing(forum)}"
        )
    return list(chosen.values())


def check_no_tags(channel: discord.abc.GuildChannel, text: str | None) -> None:
    """``tags`` only make sense for a forum."""
    if text and _names(text):
        raise UserFacingError(f"{channel.mention} is not a forum, so its posts cannot have tags; leave out `tags`.")


async def tags_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The chosen forum's tags, completing the last comma-separated name typed."""
    chosen = getattr(interaction.namespace, "channel", None)
    channel_id = getattr(chosen, "id", None) or interaction.channel_id
    forum = interaction.guild.get_channel(channel_id) if interaction.guild and channel_id else None
    if not isinstance(forum, discord.ForumChannel):
        return []
    *done, last = current.split(",") if current else [""]
    typed = {name.casefold() for name in _names(",".join(done))}
    prefix = ", ".join(_names(",".join(done)))
    choices = []
    for tag in forum.available_tags:
        if tag.name.casefold() in typed or last.strip().casefold() not in tag.name.casefold():
            continue
        value = f"{prefix}, {tag.name}" if prefix else tag.name
        if len(value) <= 100:
            choices.append(app_commands.Choice(name=value, value=value))
    return choices[:AUTOCOMPLETE_LIMIT]
