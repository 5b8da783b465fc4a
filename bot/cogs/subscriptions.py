"""``/subscriptions``: server staff choose which papers a channel receives.

The whole group is guild-only with Manage Channels as its default permission (Discord applies both
to top-level groups only); the target channel's permissions are checked again on every change.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.common import UserFacingError, code, line_embeds, parse_user_query, relative_time, reply
from bot.delivery.render import render_paper_embed, trim
from bot.engine import PREVIEW_DAYS, LimitReached
from bot.models import Subscription, SubscriptionStatus

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

BOT_NEEDS = discord.Permissions(view_channel=True, send_messages=True, embed_links=True)
PREVIEW_SHOWN = 10
AUTOCOMPLETE_LIMIT = 25


def _missing(have: discord.Permissions, need: discord.Permissions) -> list[str]:
    return [name.replace("_", " ").title() for name, value in need if value and not getattr(have, name)]


def _status(sub: Subscription) -> str:
    if sub.status is SubscriptionStatus.ACTIVE:
        return "active"
    return f"paused ({sub.pause_reason})" if sub.pause_reason else "paused"


@app_commands.guild_only()
@app_commands.default_permissions(manage_channels=True)
class Subscriptions(commands.GroupCog, group_name="subscriptions",
                    group_description="Choose which new papers this server's channels receive"):
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot
        super().__init__()

    # -- checks ---------------------------------------------------------------------------------------

    async def _check_target(self, interaction: discord.Interaction, channel: discord.abc.GuildChannel) -> None:
        """The member must manage the *target* channel, and the bot must be able to post embeds there."""
        resolved = interaction.namespace.channel
        if resolved is not None and getattr(resolved, "id", None) == channel.id:
            member_perms = resolved.permissions  # Discord's own computation for this member in that channel
        elif interaction.channel_id == channel.id:
            member_perms = interaction.permissions
        else:
            assert isinstance(interaction.user, discord.Member)
            member_perms = channel.permissions_for(interaction.user)
        if not member_perms.manage_channels:
            raise UserFacingError(f"You need the **Manage Channels** permission in {channel.mention} to do that.")
        me = channel.guild.me
        bot_perms = interaction.app_permissions if interaction.channel_id == channel.id or me is None \
            else channel.permissions_for(me)
        if missing := _missing(bot_perms, BOT_NEEDS):
            raise UserFacingError(
                f"I can't post papers in {channel.mention}: I'm missing {', '.join(missing)} there. "
                "Give me those permissions in that channel and try again."
            )

    async def _own_subscription(self, interaction: discord.Interaction, subscription_id: int) -> Subscription:
        assert interaction.guild_id is not None
        sub = await self.bot.store.get_subscription(interaction.guild_id, subscription_id)
        if sub is None:
            raise UserFacingError(f"Subscription #{subscription_id} was not found in this server.")
        channel = interaction.guild.get_channel(sub.channel_id) if interaction.guild else None
        if channel is not None:
            resolved_perms = channel.permissions_for(interaction.user)  # type: ignore[arg-type]
            if not resolved_perms.manage_channels:
                raise UserFacingError(
                    f"You need the **Manage Channels** permission in {channel.mention} to change #{sub.id}."
                )
        return sub

    # -- commands -------------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Post new papers matching a query into a channel")
    @app_commands.describe(
        query='What to match, e.g. "long context" OR "attention sink" (see the README for the syntax)',
        channel="Where to post (default: this channel)",
        backfill="Also post up to this many recent stored matches now (0-10, default 0)",
    )
    async def add(self, interaction: discord.Interaction, query: str,
                  channel: discord.TextChannel | None = None,
                  backfill: app_commands.Range[int, 0, 10] = 0) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = channel or interaction.channel
        if not isinstance(target, discord.TextChannel):
            raise UserFacingError("Papers can only be posted in a text or announcement channel; pick one.")
        await self._check_target(interaction, target)
        parsed = parse_user_query(query)
        assert interaction.guild_id is not None
        try:
            sub, queued = await self.bot.engine.add_subscription(
                guild_id=interaction.guild_id, channel_id=target.id, query=parsed,
                created_by=interaction.user.id, backfill=min(backfill, self.bot.settings.delivery.max_backfill),
            )
        except LimitReached as exc:
            raise UserFacingError(str(exc)) from exc
        lines = [
            f"Subscription **#{sub.id}** added: new papers matching it will be posted in {target.mention}.",
            f"Query: {code(parsed.text)}",
            f"Understood as: {code(parsed.describe())}",
            f"Next check for new papers: {relative_time(self.bot.next_poll_time())}.",
        ]
        if queued:
            lines.append(f"Posting the {queued} most recent stored match{'es' if queued != 1 else ''} now.")
        elif backfill:
            lines.append(f"No stored papers from the last {PREVIEW_DAYS} days match yet, so nothing to backfill.")
        await reply(interaction, "\n".join(lines))
        if queued:
            await self.bot.deliver()

    @app_commands.command(name="list", description="Show this server's subscriptions")
    @app_commands.describe(channel="Only this channel's subscriptions")
    async def list_(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        subs = await self.bot.store.list_subscriptions(interaction.guild_id, channel.id if channel else None)
        if not subs:
            where = f" for {channel.mention}" if channel else ""
            await reply(interaction, f"No subscriptions{where} yet. Add one with `/subscriptions add`.")
            return
        lines = [
            f"**#{s.id}** · <#{s.channel_id}> · {_status(s)} · {s.delivered_count} delivered\n"
            f"{code(trim(s.query, 200))}"
            for s in subs
        ]
        title = f"{len(subs)} subscription{'s' if len(subs) != 1 else ''}" + (f" in #{channel.name}" if channel else "")
        await reply(interaction, embeds=line_embeds(title, lines))

    @app_commands.command(name="remove", description="Delete a subscription")
    @app_commands.describe(subscription="The subscription's id (#N)")
    async def remove(self, interaction: discord.Interaction, subscription: int) -> None:
        await self._change_status(interaction, subscription, "removed", "removed; nothing more will be posted for it")

    @app_commands.command(name="pause", description="Stop posting for a subscription until resumed")
    @app_commands.describe(subscription="The subscription's id (#N)")
    async def pause(self, interaction: discord.Interaction, subscription: int) -> None:
        await self._change_status(interaction, subscription, SubscriptionStatus.PAUSED, "paused",
                                  reason="paused by a moderator")

    @app_commands.command(name="resume", description="Resume a paused subscription")
    @app_commands.describe(subscription="The subscription's id (#N)")
    async def resume(self, interaction: discord.Interaction, subscription: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        sub = await self._own_subscription(interaction, subscription)
        channel = interaction.guild.get_channel(sub.channel_id) if interaction.guild else None
        if isinstance(channel, discord.TextChannel):
            await self._check_target(interaction, channel)
        await self._change_status(interaction, subscription, SubscriptionStatus.ACTIVE,
                                  "resumed; papers waiting for it will be posted shortly")
        await self.bot.deliver()

    async def _change_status(self, interaction: discord.Interaction, subscription_id: int,
                             status: SubscriptionStatus | str, done: str, reason: str | None = None) -> None:
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        await self._own_subscription(interaction, subscription_id)
        assert interaction.guild_id is not None
        sub = await self.bot.engine.set_status(interaction.guild_id, subscription_id, status, reason)
        if sub is None:
            raise UserFacingError(f"Subscription #{subscription_id} was not found in this server.")
        await reply(interaction, f"Subscription **#{sub.id}** ({code(trim(sub.query, 200))}) {done}.")

    @remove.autocomplete("subscription")
    @pause.autocomplete("subscription")
    @resume.autocomplete("subscription")
    async def _subscription_autocomplete(self, interaction: discord.Interaction,
                                         current: str) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        needle = current.strip().lstrip("#").casefold()
        choices = []
        for sub in await self.bot.store.list_subscriptions(interaction.guild_id):
            channel = interaction.guild.get_channel(sub.channel_id) if interaction.guild else None
            label = f"#{sub.id} · {sub.query} · #{channel.name if channel else sub.channel_id} · {_status(sub)}"
            if needle in label.casefold():
                choices.append(app_commands.Choice(name=trim(label, 100), value=sub.id))
        return choices[:AUTOCOMPLETE_LIMIT]

    @app_commands.command(name="preview", description=f"Show stored papers from the last {PREVIEW_DAYS} days "
                                                      "that a query would match")
    @app_commands.describe(query="The query to try (same syntax as /subscriptions add)")
    async def preview(self, interaction: discord.Interaction, query: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        parsed = parse_user_query(query)
        papers = await self.bot.engine.preview(parsed)
        header = f"Understood as: {code(parsed.describe())}\n"
        if not papers:
            await reply(interaction, header + f"No stored papers from the last {PREVIEW_DAYS} days match.")
            return
        shown = papers[:PREVIEW_SHOWN]
        more = f" (showing the newest {len(shown)})" if len(papers) > len(shown) else ""
        await reply(interaction, header + f"**{len(papers)}** stored paper{'s' if len(papers) != 1 else ''} "
                    f"from the last {PREVIEW_DAYS} days match{more}.",
                    embeds=[render_paper_embed(p) for p in shown])

    async def cog_app_command_error(self, interaction: discord.Interaction,
                                    error: app_commands.AppCommandError) -> None:
        await handle_command_error(interaction, error)


async def handle_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """Show user mistakes as a friendly ephemeral message; log real bugs and say something went wrong."""
    original = getattr(error, "original", error)
    if isinstance(original, UserFacingError):
        message = str(original)
    elif isinstance(error, app_commands.CommandOnCooldown):
        message = f"Slow down a little: try again in {error.retry_after:.0f}s."
    elif isinstance(error, app_commands.CheckFailure):
        message = "You don't have permission to use this command here."
    elif isinstance(error, app_commands.TransformerError):
        message = f"I couldn't understand the value {code(str(error.value))} for that option."
    else:
        log.error("command %s failed", interaction.command and interaction.command.qualified_name,
                  exc_info=original)
        message = "Something went wrong on my side; it has been logged. Please try again later."
    try:
        await reply(interaction, message)
    except discord.HTTPException:
        log.warning("could not send an error reply for interaction %s", interaction.id)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Subscriptions(bot))
