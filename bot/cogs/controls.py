"""Answers the paper controls on delivered papers: 👍 like, 👎 dislike, 🔖 save (DM the paper), 🔎 similar.

The controls (``bot.delivery.controls``) carry everything in their ``custom_id`` (and a select's chosen value), so
discord.py's ``DynamicItem`` rebuilds each one from the clicked component: they work on messages sent before a
restart and keep no state per message or process. Every answer is private to whoever clicked, and is deferred
first, so it is within Discord's 3 s even while the store is busy.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.cogs import relevance
from bot.cogs.ui import line_embeds, reply
from bot.delivery.controls import BUTTON_TEMPLATE, EMOJI, SELECT_TEMPLATE
from bot.delivery.discord_transport import CANNOT_DM
from bot.delivery.render import escape_markdown, render_paper_embed, trim
from bot.models import Owner, Paper, Scope, Target
from bot.store import Store
from bot.store.feedback import Vote

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)


def target_of(interaction: discord.Interaction) -> Target:
    """Where a clicked paper was delivered: the user's DMs, the channel, or the forum a post belongs to."""
    if interaction.guild_id is None:
        return Target(Scope.USER, interaction.user.id)
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return Target(Scope.GUILD, channel.parent_id)
    assert interaction.channel_id is not None
    return Target(Scope.GUILD, interaction.channel_id)


async def _refit_profiles(bot: PaperBot, interaction: discord.Interaction, target: Target) -> None:
    """Feedback changes two profiles: a channel's (its people are whoever clicks there) and the clicker's alerts
    profile (a user's clicks anywhere count for their alerts), which exists only while they have alerts (as
    ``Store.profile_targets`` has it at start). Each refits after a short quiet spell."""
    if target.scope is Scope.GUILD:
        bot.engine.recommender.schedule_refit(target)
    if await bot.store.count_subscriptions(Owner.user(interaction.user.id)):
        bot.engine.recommender.schedule_refit(Target(Scope.USER, interaction.user.id))


def _title(paper: Paper) -> str:
    return f"**{trim(escape_markdown(paper.title) or paper.id, 150)}**"


async def _vote(bot: PaperBot, interaction: discord.Interaction, paper: Paper, vote: Vote) -> str:
    target = target_of(interaction)
    now = await bot.store.record_vote(interaction.user.id, target, paper.id, vote, bot.clock())
    await _refit_profiles(bot, interaction, target)
    emoji = EMOJI[str(vote)]
    if now is None:
        return f"{emoji} Took back your {vote} of {_title(paper)}."
    return f"{emoji} You {vote}d {_title(paper)}. Click {emoji} again to take it back."


async def _save(bot: PaperBot, interaction: discord.Interaction, paper: Paper) -> str:
    try:
        await interaction.user.send(
            embed=discord.Embed.from_dict(render_paper_embed(paper, full=True)),
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except discord.Forbidden as exc:
        if exc.code != CANNOT_DM:
            raise
        return (
            "🔖 I couldn't DM you: your DMs are closed to me. Allow direct messages from this server's members "
            "(the server's Privacy Settings) and click 🔖 again."
        )
    target = target_of(interaction)
    await bot.store.record_save(interaction.user.id, target, paper.id, bot.clock())
    await _refit_profiles(bot, interaction, target)
    return f"🔖 Sent {_title(paper)} to your DMs."


async def _similar(bot: PaperBot, paper: Paper) -> tuple[str, list[dict[str, Any]]]:
    lines = await relevance.similar_lines(bot, paper)
    if not lines:
        return f"🔎 No stored paper shares enough words with {_title(paper)} yet.", []
    return f"🔎 Papers similar to {_title(paper)}:", line_embeds("Similar papers", lines)


async def answer(interaction: discord.Interaction, action: str, paper_id: str) -> None:
    """Answer one control: defer (privately), act, say what happened; never leave the click unanswered."""
    bot: PaperBot = interaction.client  # type: ignore[assignment]  # the extension only runs in PaperBot
    await interaction.response.defer(ephemeral=True, thinking=True)
    embeds: list[dict[str, Any]] = []
    try:
        paper = await bot.store.get_paper(paper_id)
        if paper is None:
            text = f"I no longer have `{trim(paper_id, 100)}` stored."
        elif action in (Vote.LIKE, Vote.DISLIKE):
            text = await _vote(bot, interaction, paper, Vote(action))
        elif action == "save":
            text = await _save(bot, interaction, paper)
        else:
            text, embeds = await _similar(bot, paper)
    except Exception:
        log.exception("paper control %s on %s failed", action, paper_id)
        text = "Something went wrong there; please try again in a moment."
    await reply(interaction, text, embeds=embeds)


class PaperButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BUTTON_TEMPLATE):
    """A control on a single-paper message: ``paper:<action>:<paper id>``."""

    def __init__(self, item: discord.ui.Button[Any], action: str, paper_id: str) -> None:
        super().__init__(item)
        self.action = action
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # discord.py's Item type is wider than ours
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> PaperButton:
        return cls(item, match["action"], match["paper"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.action, self.paper_id)


class PaperSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=SELECT_TEMPLATE):
    """A control on a message with several papers: ``papers:<action>``, the chosen option's value a paper id."""

    def __init__(self, item: discord.ui.Select[Any], action: str) -> None:
        super().__init__(item)
        self.action = action

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Select[Any], match: re.Match[str], /
    ) -> PaperSelect:
        return cls(item, match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        for paper_id in self.item.values[:1]:
            await answer(interaction, self.action, paper_id)


async def feedback_text(store: Store, target: Target, paper_id: str) -> str:
    """``👍 2 · 👎 0 · 🔖 1 here`` for ``/papers explain``: a target's counts, no names; "" when there are none."""
    counts = await store.feedback_counts(target, paper_id)
    if not (counts.likes or counts.dislikes or counts.saves):
        return ""
    return f"\nFeedback here: 👍 {counts.likes} · 👎 {counts.dislikes} · 🔖 {counts.saves}"


async def setup(bot: PaperBot) -> None:
    bot.add_dynamic_items(PaperButton, PaperSelect)
