"""``/alerts``: anyone gets matching papers in their DMs.

Usable in servers and in DMs with the bot, and installable to a user's account as well as to a
server. Every alert belongs to one user: nobody else can see or touch it, whatever server they are in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs import owned, relevance
from bot.cogs.ui import line_embeds, reply, user_cooldown
from bot.models import Mode, Owner, Schedule, SubscriptionStatus

if TYPE_CHECKING:
    from bot.app import PaperBot


def _me(interaction: discord.Interaction) -> Owner:
    return Owner.user(interaction.user.id)


@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
class Alerts(
    owned.OwnedCommands,
    commands.GroupCog,
    group_name="alerts",
    group_description="Get new papers matching a query in your DMs",
):
    @app_commands.command(name="add", description="DM me new papers matching a query")
    @owned.describe_add(query='"diffusion transformer" OR au:"Yann LeCun"', backfill="DM")
    @owned.add_limits
    async def add(
        self,
        interaction: discord.Interaction,
        query: str | None = None,
        schedule: owned.ScheduleChoice = Schedule.INSTANT,
        min_upvotes: owned.MinUpvotes = 0,
        backfill: owned.Backfill = 0,
        max_per_day: owned.MaxPerDay = 0,
        mode: str = Mode.MATCH,
        like: str | None = None,
    ) -> None:
        headline = "Alert **#{id}** added: I'll DM you new papers matching it ({delivery})."
        await owned.add_subscription(
            self.bot,
            interaction,
            _me(interaction),
            owned.AddOptions(query, schedule, min_upvotes, backfill, max_per_day, mode, like),
            headline=headline,
        )

    @app_commands.command(name="import", description="Like the papers of your library (BibTeX or Zotero CSV)")
    @app_commands.describe(file="A .bib file or a Zotero CSV export, up to 1 MB")
    @user_cooldown()
    async def import_(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        await relevance.import_library(self.bot, interaction, file)

    @app_commands.command(name="forget", description="Delete your alerts profile: liked papers and imports")
    @user_cooldown()
    async def forget(self, interaction: discord.Interaction) -> None:
        await relevance.forget(self.bot, interaction)

    @app_commands.command(name="list", description="Show your alerts")
    @user_cooldown()
    async def list_(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        alerts = await self.bot.store.list_subscriptions(_me(interaction))
        if not alerts:
            await reply(interaction, "You have no alerts yet. Add one with `/alerts add`.")
            return
        title = f"Your {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
        await reply(interaction, embeds=line_embeds(title, [owned.subscription_line(a) for a in alerts]))

    @app_commands.command(name="remove", description="Delete one of your alerts")
    @app_commands.describe(alert="The alert's id (#N)")
    @user_cooldown()
    async def remove(self, interaction: discord.Interaction, alert: owned.SubscriptionId) -> None:
        await self.change(interaction, alert, SubscriptionStatus.REMOVED, "removed")

    @app_commands.command(name="pause", description="Stop one of your alerts until resumed")
    @app_commands.describe(alert="The alert's id (#N)")
    @user_cooldown()
    async def pause(self, interaction: discord.Interaction, alert: owned.SubscriptionId) -> None:
        await self.change(interaction, alert, SubscriptionStatus.PAUSED, "paused", reason="paused by you")

    @app_commands.command(name="resume", description="Resume one of your paused alerts")
    @app_commands.describe(alert="The alert's id (#N)")
    @user_cooldown()
    async def resume(self, interaction: discord.Interaction, alert: owned.SubscriptionId) -> None:
        await self.change(interaction, alert, SubscriptionStatus.ACTIVE, "resumed")

    def owner_of(self, interaction: discord.Interaction) -> Owner:
        return _me(interaction)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Alerts(bot))
