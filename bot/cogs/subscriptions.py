"""``/subscriptions``: server staff choose which papers a channel receives.

The whole group is guild-only with Manage Channels as its default permission (Discord applies both
to top-level groups only); the member's permissions in the *target* channel are checked on every change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs import access, budget, owned
from bot.cogs.forums import TAGS_DESCRIPTION, PostableChannel, check_no_tags, resolve_tags, tags_autocomplete
from bot.cogs.ui import code, line_embeds, reply, user_cooldown
from bot.delivery.render import render_paper_embed
from bot.matching import parse_query
from bot.models import Mode, Owner, Schedule, Subscription, SubscriptionStatus
from bot.reading import PREVIEW_DAYS
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
@app_commands.allowed_installs(guilds=True, users=False)  # a channel's deliveries: never offered to user installs
@app_commands.default_permissions(manage_channels=True)
class Subscriptions(
    owned.OwnedCommands,
    commands.GroupCog,
    group_name="subscriptions",
    group_description="Choose which new papers this server's channels receive",
):
    # -- checks ---------------------------------------------------------------------------------------

    def _bot_permissions(
        self, interaction: discord.Interaction, channel: discord.abc.GuildChannel
    ) -> discord.Permissions:
        me = channel.guild.me
        if interaction.channel_id == channel.id or me is None:
            return interaction.app_permissions
        return channel.permissions_for(me)

    def _check_target(self, interaction: discord.Interaction, channel: discord.abc.GuildChannel) -> None:
        """The member must manage the *target* channel, and the bot must be able to post embeds there."""
        perms = access.member_permissions(interaction, channel.id) or discord.Permissions.none()
        if not (perms.view_channel and perms.manage_channels):
            raise UserFacingError(f"You need the **Manage Channels** permission in {channel.mention} to do that.")
        if missing := _missing(self._bot_permissions(interaction, channel), BOT_NEEDS):
            raise UserFacingError(
                f"I can't post papers in {channel.mention}: I'm missing {', '.join(missing)} there. "
                "Give me those permissions in that channel and try again."
            )

    def _check_mention(
        self, interaction: discord.Interaction, channel: discord.abc.GuildChannel, role: discord.Role
    ) -> None:
        """The bot must be able to ping the role in that channel: it is mentionable, or the bot has Mention
        Everyone there (Discord silently drops the ping otherwise)."""
        if role.is_default():
            raise UserFacingError("Pick a role to mention; @everyone is not offered.")
        if role.mentionable or self._bot_permissions(interaction, channel).mention_everyone:
            return
        raise UserFacingError(
            f"I can't ping {role.mention} in {channel.mention}: the role is not mentionable and I don't have "
            "**Mention Everyone** there. Make the role mentionable (Server Settings → Roles) or give me that "
            "permission in the channel, then try again."
        )

    async def _own_subscription(self, interaction: discord.Interaction, subscription_id: int) -> Subscription:
        """One of this server's subscriptions that the member may change (any other id reads as not found)."""
        sub = await self.bot.store.get_subscription(_guild(interaction), subscription_id)
        if sub is None or not access.can_manage(interaction, sub):
            raise UserFacingError(f"Subscription #{subscription_id} was not found in this server.")
        return sub

    # -- commands -------------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Post new papers matching a query into a channel")
    @owned.describe_add(
        query='"long context" OR "attention sink"',
        backfill="post",
        channel="Where to post: a text, announcement or forum channel (default: this channel)",
        tags=TAGS_DESCRIPTION,
        mention="A role to ping when this subscription's papers arrive",
    )
    @app_commands.autocomplete(tags=tags_autocomplete)
    @owned.add_limits
    async def add(
        self,
        interaction: discord.Interaction,
        query: str | None = None,
        channel: app_commands.Transform[discord.TextChannel | discord.ForumChannel, PostableChannel] | None = None,
        schedule: owned.ScheduleChoice = Schedule.INSTANT,
        min_upvotes: owned.MinUpvotes = 0,
        backfill: owned.Backfill = 0,
        tags: str | None = None,
        max_per_day: owned.MaxPerDay = 0,
        mention: discord.Role | None = None,
        mode: str = Mode.MATCH,
        like: str | None = None,
    ) -> None:
        target = channel or interaction.channel
        if not isinstance(target, discord.TextChannel | discord.ForumChannel):
            raise UserFacingError("Papers can only be posted in a text, announcement or forum channel; pick one.")
        self._check_target(interaction, target)
        if mention is not None:
            self._check_mention(interaction, target, mention)
        forum_tags = []
        if isinstance(target, discord.ForumChannel):
            forum_tags = resolve_tags(target, tags)
            shown = f", tagged {', '.join(t.name for t in forum_tags)}" if forum_tags else ""
            where = f"in {target.mention} as one post per paper{shown}"
        else:
            check_no_tags(target, tags)
            where = f"in {target.mention}"
        headline = f"Subscription **#{{id}}** added: new papers matching it will be posted {where} "
        await owned.add_subscription(
            self.bot,
            interaction,
            _guild(interaction),
            owned.AddOptions(query, schedule, min_upvotes, backfill, max_per_day, mode, like),
            headline=headline + "({delivery}).",
            channel_id=target.id,
            forum=isinstance(target, discord.ForumChannel),
            forum_tags=[t.id for t in forum_tags],
            mention_role_id=mention.id if mention else None,
        )

    @app_commands.command(name="list", description="Show this server's subscriptions")
    @app_commands.describe(channel="Only this channel's subscriptions")
    @user_cooldown()
    async def list_(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        listed = await self.bot.store.list_subscriptions(_guild(interaction), channel.id if channel else None)
        subs = [sub for sub in listed if access.can_manage(interaction, sub)]
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
        if status is SubscriptionStatus.ACTIVE and isinstance(channel, discord.TextChannel | discord.ForumChannel):
            self._check_target(interaction, channel)

    def may_change(self, interaction: discord.Interaction, sub: Subscription) -> bool:
        return access.can_manage(interaction, sub)

    def check_settings(self, interaction: discord.Interaction) -> None:
        if not access.can_manage_server(interaction):
            raise UserFacingError("Changing this server's digest settings needs the **Manage Server** permission.")

    def channel_name(self, interaction: discord.Interaction, channel_id: int) -> str | None:
        channel = interaction.guild.get_channel(channel_id) if interaction.guild else None
        return channel.name if channel else None

    @app_commands.command(
        name="preview", description=f"Show stored papers from the last {PREVIEW_DAYS} days that a query would match"
    )
    @app_commands.describe(query="The query to try (same syntax as /subscriptions add)")
    @user_cooldown()
    @budget.expensive()
    async def preview(self, interaction: discord.Interaction, query: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        parsed = parse_query(query)
        total, shown = await self.bot.engine.preview(parsed, shown=PREVIEW_SHOWN)
        header = f"Understood as: {code(parsed.describe())}\n"
        if not total:
            await reply(interaction, header + f"No stored papers from the last {PREVIEW_DAYS} days match.")
            return
        more = f" (showing the newest {len(shown)})" if total > len(shown) else ""
        await reply(
            interaction,
            header + f"**{total}** stored paper{'s' if total != 1 else ''} "
            f"from the last {PREVIEW_DAYS} days match{more}.",
            embeds=[render_paper_embed(p) for p in shown],
        )

    def owner_of(self, interaction: discord.Interaction) -> Owner:
        return _guild(interaction)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Subscriptions(bot))
