"""``/subscriptions``: server staff choose which papers a channel receives.

The whole group is guild-only with Manage Channels as its default permission (Discord applies both
to top-level groups only); the member's permissions in the *target* channel are checked on every change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs import owned
from bot.cogs.ui import code, line_embeds, reply, user_cooldown
from bot.delivery.render import render_paper_embed
from bot.engine import PREVIEW_DAYS
from bot.matching import parse_query
from bot.models import Mode, Owner, Schedule, Subscription, SubscriptionStatus
from bot.tree import UserFacingError

if TYPE_CHECKING:
    from bot.app import PaperBot

BOT_NEEDS = discord.Permissions(view_channel=True, send_messages=True, embed_links=True)
PREVIEW_SHOWN = 10


def _missing(have: discord.Permissions, need: discord.Permissions) -> list[str]:
    return [name.replace("_", " ").title() for name, value in need if value and not getattr(have, name)]


def _guild(interaction: discord.Interaction) -> Owner:
    assert interaction.guild_id is not None  # the group is guild-only
    return Owner.guild(interaction.guild_id)


@app_commands.guild_only()
@app_commands.default_permissions(manage_channels=True)
class Subscriptions(
    owned.OwnedCommands,
    commands.GroupCog,
    group_name="subscriptions",
    group_description="Choose which new papers this server's channels receive",
):
    # -- checks ---------------------------------------------------------------------------------------

    def _member_permissions(
        self, interaction: discord.Interaction, channel: discord.abc.GuildChannel
    ) -> discord.Permissions:
        resolved = interaction.namespace.channel
        if isinstance(resolved, app_commands.AppCommandChannel) and resolved.id == channel.id:
            return resolved.permissions  # Discord's own computation for this member in that channel
        if interaction.channel_id == channel.id:
            return interaction.permissions
        assert isinstance(interaction.user, discord.Member)
        return channel.permissions_for(interaction.user)

    def _check_target(self, interaction: discord.Interaction, channel: discord.abc.GuildChannel) -> None:
        """The member must manage the *target* channel, and the bot must be able to post embeds there."""
        if not self._member_permissions(interaction, channel).manage_channels:
            raise UserFacingError(f"You need the **Manage Channels** permission in {channel.mention} to do that.")
        me = channel.guild.me
        bot_perms = (
            interaction.app_permissions
            if interaction.channel_id == channel.id or me is None
            else channel.permissions_for(me)
        )
        if missing := _missing(bot_perms, BOT_NEEDS):
            raise UserFacingError(
                f"I can't post papers in {channel.mention}: I'm missing {', '.join(missing)} there. "
                "Give me those permissions in that channel and try again."
            )

    async def _own_subscription(self, interaction: discord.Interaction, subscription_id: int) -> Subscription:
        """One of this server's subscriptions, whose channel the member may manage."""
        sub = await self.bot.store.get_subscription(_guild(interaction), subscription_id)
        if sub is None:
            raise UserFacingError(f"Subscription #{subscription_id} was not found in this server.")
        channel = interaction.guild.get_channel(sub.channel_id or 0) if interaction.guild else None
        if channel is not None and not self._member_permissions(interaction, channel).manage_channels:
            raise UserFacingError(
                f"You need the **Manage Channels** permission in {channel.mention} to change #{sub.id}."
            )
        return sub

    # -- commands -------------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Post new papers matching a query into a channel")
    @owned.describe_add(
        query='"long context" OR "attention sink"', backfill="post", channel="Where to post (default: this channel)"
    )
    @user_cooldown()
    async def add(
        self,
        interaction: discord.Interaction,
        query: str | None = None,
        channel: discord.TextChannel | None = None,
        schedule: Schedule = Schedule.INSTANT,
        min_upvotes: owned.MinUpvotes = 0,
        backfill: owned.Backfill = 0,
        mode: str = Mode.MATCH,
        like: str | None = None,
    ) -> None:
        target = channel or interaction.channel
        if not isinstance(target, discord.TextChannel):
            raise UserFacingError("Papers can only be posted in a text or announcement channel; pick one.")
        self._check_target(interaction, target)
        headline = f"Subscription **#{{id}}** added: new papers matching it will be posted in {target.mention} "
        await owned.add_subscription(
            self.bot,
            interaction,
            _guild(interaction),
            query,
            schedule,
            min_upvotes,
            backfill,
            headline=headline + "({delivery}).",
            channel_id=target.id,
            mode=mode,
            like=like,
        )

    @app_commands.command(name="list", description="Show this server's subscriptions")
    @app_commands.describe(channel="Only this channel's subscriptions")
    @user_cooldown()
    async def list_(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        subs = await self.bot.store.list_subscriptions(_guild(interaction), channel.id if channel else None)
        if not subs:
            where = f" for {channel.mention}" if channel else ""
            await reply(interaction, f"No subscriptions{where} yet. Add one with `/subscriptions add`.")
            return
        title = f"{len(subs)} subscription{'s' if len(subs) != 1 else ''}" + (f" in #{channel.name}" if channel else "")
        await reply(interaction, embeds=line_embeds(title, [owned.subscription_line(s) for s in subs]))

    @app_commands.command(name="remove", description="Delete a subscription")
    @app_commands.describe(subscription="The subscription's id (#N)")
    @user_cooldown()
    async def remove(self, interaction: discord.Interaction, subscription: owned.SubscriptionId) -> None:
        await self.change(
            interaction, subscription, SubscriptionStatus.REMOVED, "removed; nothing more will be posted for it"
        )

    @app_commands.command(name="pause", description="Stop posting for a subscription until resumed")
    @app_commands.describe(subscription="The subscription's id (#N)")
    @user_cooldown()
    async def pause(self, interaction: discord.Interaction, subscription: owned.SubscriptionId) -> None:
        await self.change(
            interaction, subscription, SubscriptionStatus.PAUSED, "paused", reason="paused by a moderator"
        )

    @app_commands.command(name="resume", description="Resume a paused subscription")
    @app_commands.describe(subscription="The subscription's id (#N)")
    @user_cooldown()
    async def resume(self, interaction: discord.Interaction, subscription: owned.SubscriptionId) -> None:
        await self.change(
            interaction,
            subscription,
            SubscriptionStatus.ACTIVE,
            "resumed; papers waiting for it will be posted shortly",
        )

    async def check_change(
        self, interaction: discord.Interaction, subscription_id: int, status: SubscriptionStatus
    ) -> None:
        sub = await self._own_subscription(interaction, subscription_id)
        channel = interaction.guild.get_channel(sub.channel_id or 0) if interaction.guild else None
        if status is SubscriptionStatus.ACTIVE and isinstance(channel, discord.TextChannel):
            self._check_target(interaction, channel)

    def channel_name(self, interaction: discord.Interaction, channel_id: int) -> str | None:
        channel = interaction.guild.get_channel(channel_id) if interaction.guild else None
        return channel.name if channel else None

    @app_commands.command(
        name="preview", description=f"Show stored papers from the last {PREVIEW_DAYS} days that a query would match"
    )
    @app_commands.describe(query="The query to try (same syntax as /subscriptions add)")
    @user_cooldown()
    async def preview(self, interaction: discord.Interaction, query: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        parsed = parse_query(query)
        papers = await self.bot.engine.preview(parsed)
        header = f"Understood as: {code(parsed.describe())}\n"
        if not papers:
            await reply(interaction, header + f"No stored papers from the last {PREVIEW_DAYS} days match.")
            return
        shown = papers[:PREVIEW_SHOWN]
        more = f" (showing the newest {len(shown)})" if len(papers) > len(shown) else ""
        await reply(
            interaction,
            header + f"**{len(papers)}** stored paper{'s' if len(papers) != 1 else ''} "
            f"from the last {PREVIEW_DAYS} days match{more}.",
            embeds=[render_paper_embed(p) for p in shown],
        )

    def owner_of(self, interaction: discord.Interaction) -> Owner:
        return _guild(interaction)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Subscriptions(bot))
