"""Which of a server's subscriptions a member may see or change, decided per subscription by its channel.

Discord applies a command's default permission (Manage Channels for ``/subscriptions``) in the channel where the
command runs, so holding it in one channel says nothing about the others. Every read and change of a server
subscription is therefore checked against the member's permissions in *that subscription's* channel:

- seeing it explained (``/papers explain``): View Channel there — whoever reads the channel sees what is posted
  there anyway, and nobody learns of a channel hidden from them;
- listing, pausing, resuming, removing it, or finding it in autocomplete: View Channel and Manage Channels there;
  a subscription whose channel no longer exists: Manage Channels server-wide (so it can still be cleaned up).

An invisible subscription answers exactly like a nonexistent one.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.models import Subscription


def member_permissions(interaction: discord.Interaction, channel_id: int) -> discord.Permissions | None:
    """The invoking member's permissions in one of this server's channels; None when the channel is unknown
    (deleted, or not in this server) or the invoker is not a member here."""
    resolved = interaction.namespace.channel
    if isinstance(resolved, app_commands.AppCommandChannel) and resolved.id == channel_id:
        return resolved.permissions  # Discord's own computation for this member in that channel
    if interaction.channel_id == channel_id and interaction.guild is not None:
        return interaction.permissions
    guild, member = interaction.guild, interaction.user
    channel = guild.get_channel_or_thread(channel_id) if guild is not None else None
    if channel is None or not isinstance(member, discord.Member):
        return None
    return channel.permissions_for(member)


def can_view(interaction: discord.Interaction, sub: Subscription) -> bool:
    """Whether the member may see this server subscription explained: View Channel in its channel."""
    perms = member_permissions(interaction, sub.channel_id or 0)
    return perms is not None and perms.view_channel


def can_manage(interaction: discord.Interaction, sub: Subscription) -> bool:
    """Whether the member may list or change this server subscription: View Channel and Manage Channels in its
    channel, or Manage Channels server-wide when the channel is gone."""
    perms = member_permissions(interaction, sub.channel_id or 0)
    if perms is None:
        member = interaction.user
        return isinstance(member, discord.Member) and member.guild_permissions.manage_channels
    return perms.view_channel and perms.manage_channels


def can_manage_server(interaction: discord.Interaction) -> bool:
    """Whether the member may change server-wide settings: Manage Server (owners and administrators have it)."""
    member = interaction.user
    return isinstance(member, discord.Member) and member.guild_permissions.manage_guild
