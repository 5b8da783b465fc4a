"""``/papers``: search, browse and look up stored papers, and ask why a paper was (not) posted.

Everyone can use these, in servers and in DMs. Replies are ephemeral except ``show``, which posts the
paper so it can be shared in the conversation.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs import access, budget, relevance
from bot.cogs.controls import feedback_text
from bot.cogs.help import help_embeds
from bot.cogs.ui import code, line_embeds, relative_time, reply, send_reply, user_cooldown
from bot.delivery.render import render_paper_embed, trim
from bot.matching import parse_query
from bot.models import Owner, Scope, Subscription, paper_key
from bot.reading import PaperExplanation
from bot.tree import UserFacingError

if TYPE_CHECKING:
    from bot.app import PaperBot
    from bot.store import Store

PAGE_SIZE = 5
TRENDING_DAYS = 3
MAX_EXPLAINED = 25
MAX_LIVE_PAGERS = 2000  # search result pagers kept at once (ids only, a few KiB each)


class SearchPager(discord.ui.View):
    """Prev/next buttons over a result list; only the person who searched can turn the pages.

    A pager keeps the results' ids, not the papers (a page is read from the store when shown), and at most
    ``MAX_LIVE_PAGERS`` pagers are live at once: a new search retires the oldest, whose buttons then stop
    answering. So searches hold a few KiB each, and a bounded total, for the ten minutes their buttons live.
    """

    _live: ClassVar[OrderedDict[int, SearchPager]] = OrderedDict()

    def __init__(self, owner_id: int, header: str, paper_ids: list[str], store: Store) -> None:
        super().__init__(timeout=600)
        self.owner_id = owner_id
        self.header = header
        self.paper_ids = tuple(paper_ids)
        self.store = store
        self.page = 0
        self._sync_buttons()
        live = SearchPager._live
        live[id(self)] = self
        while len(live) > MAX_LIVE_PAGERS:
            _, oldest = live.popitem(last=False)
            oldest.stop()

    def stop(self) -> None:
        SearchPager._live.pop(id(self), None)
        super().stop()

    async def on_timeout(self) -> None:
        SearchPager._live.pop(id(self), None)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.paper_ids) // PAGE_SIZE))

    def content(self) -> str:
        first = self.page * PAGE_SIZE
        last = min(first + PAGE_SIZE, len(self.paper_ids))
        return f"{self.header}\nResults {first + 1}–{last} of {len(self.paper_ids)} (page {self.page + 1}/{self.pages})"

    async def embeds(self) -> list[discord.Embed]:
        """The current page's papers, read from the store (a paper deleted since the search is left out)."""
        first = self.page * PAGE_SIZE
        papers = await self.store.papers_by_id(self.paper_ids[first : first + PAGE_SIZE])
        return [discord.Embed.from_dict(render_paper_embed(p)) for p in papers]

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "These results belong to someone else's search; run `/papers search` yourself.", ephemeral=True
            )
            return False
        if wait := budget.spend(interaction):
            await interaction.response.send_message(budget.slow_down(wait), ephemeral=True)
            return False
        return True

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, self.pages - 1))
        self._sync_buttons()
        await interaction.response.edit_message(content=self.content(), embeds=await self.embeds(), view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary, custom_id="papers:prev")
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[SearchPager]) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary, custom_id="papers:next")
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[SearchPager]) -> None:
        await self._show(interaction, self.page + 1)


def _explanation_line(item: PaperExplanation, guild_id: int | None) -> str:
    sub, verdict = item.subscription, item.verdict
    whose = " (your alert)" if sub.scope is Scope.USER else ""
    query = code(trim(sub.query, 120)) if sub.query else "(no query: recommend mode)"
    head = f"{'✅' if verdict.matched else '❌'} **#{sub.id}**{whose} {query}"
    found = f"found: {', '.join(code(h) for h in verdict.hits[:6])}" if verdict.hits else "no term found"
    detail = found if verdict.matched else "; ".join(verdict.failures[:3]) or found
    reason = item.reason
    if item.delivery is not None and item.delivery.message_id and item.delivery.channel_id:
        where = guild_id if sub.guild_id is not None else "@me"
        if sub.forum:  # the message id is the post's own: link to the post
            reason += f" — [open the post](https://discord.com/channels/{where}/{item.delivery.message_id})"
        else:
            reason += (
                f" — [jump to the message](https://discord.com/channels/{where}/{item.delivery.channel_id}/"
                f"{item.delivery.message_id})"
            )
    return f"{head}\n{trim(detail, 300)}\n→ {reason}"


@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
class Papers(commands.GroupCog, group_name="papers", group_description="Search and look up stored papers"):
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot
        self.started = time.monotonic()
        super().__init__()

    async def _source_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=s.name, value=s.name)
            for s in self.bot.sources
            if current.lower() in s.name.lower()
        ][:25]

    def _check_source(self, source: str | None) -> None:
        if source is not None and source not in {s.name for s in self.bot.sources}:
            names = ", ".join(s.name for s in self.bot.sources) or "none configured"
            raise UserFacingError(f"Unknown source {source!r}; the sources are: {names}.")

    @app_commands.command(name="search", description="Search stored papers with the subscription query language")
    @app_commands.describe(query='e.g. "long context" OR "attention sink"', source="Only papers from this source")
    @app_commands.autocomplete(source=_source_autocomplete)
    @user_cooldown()
    @budget.expensive()
    async def search(self, interaction: discord.Interaction, query: str, source: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        self._check_source(source)
        parsed = parse_query(query)
        papers = await self.bot.engine.search(parsed, source)
        if not papers:
            await reply(interaction, f"No stored papers match {code(parsed.describe())}.")
            return
        pager = SearchPager(
            interaction.user.id, f"Search: {code(parsed.describe())}", [p.id for p in papers], self.bot.store
        )
        await send_reply(interaction, pager.content(), embeds=await pager.embeds(), view=pager)

    @app_commands.command(name="latest", description="The most recently listed papers")
    @app_commands.describe(source="Only papers from this source", count="How many (1-10, default 5)")
    @app_commands.autocomplete(source=_source_autocomplete)
    @user_cooldown()
    async def latest(
        self, interaction: discord.Interaction, source: str | None = None, count: app_commands.Range[int, 1, 10] = 5
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        self._check_source(source)
        papers = await self.bot.store.latest_papers(count, source)
        if not papers:
            await reply(interaction, "No papers stored yet; the first poll may still be running.")
            return
        await reply(
            interaction,
            f"The {len(papers)} most recently listed papers:",
            embeds=[render_paper_embed(p) for p in papers],
        )

    @app_commands.command(
        name="trending", description=f"Most upvoted Hugging Face papers of the last {TRENDING_DAYS} days"
    )
    @user_cooldown()
    async def trending(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        papers = await self.bot.store.trending_papers(self.bot.clock() - timedelta(days=TRENDING_DAYS), 10)
        if not papers:
            await reply(interaction, f"No upvoted papers in the last {TRENDING_DAYS} days.")
            return
        await reply(
            interaction,
            f"Trending (last {TRENDING_DAYS} days, by upvotes):",
            embeds=[render_paper_embed(p) for p in papers],
        )

    @app_commands.command(name="show", description="Post one paper in full")
    @app_commands.describe(id="arXiv id or URL (arxiv.org, huggingface.co/papers), DOI, or the id in a footer")
    @user_cooldown()
    async def show(self, interaction: discord.Interaction, id: str) -> None:
        paper = await self.bot.store.get_paper(paper_key(id))
        if paper is None:
            raise UserFacingError(
                f"I don't have {code(trim(id, 100))} stored. Only papers listed by the sources "
                "since paperbot started watching them are known."
            )
        await interaction.response.send_message(
            embed=discord.Embed.from_dict(render_paper_embed(paper, full=True)),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(
        name="similar", description="The stored papers most similar to one, with the words they share"
    )
    @app_commands.describe(paper="arXiv id or URL (arxiv.org, huggingface.co/papers), DOI, or the id in a footer")
    @user_cooldown()
    @budget.expensive()
    async def similar(self, interaction: discord.Interaction, paper: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.store.get_paper(paper_key(paper))
        if found is None:
            raise UserFacingError(f"I don't have {code(trim(paper, 100))} stored; try `/papers search`.")
        await relevance.similar(self.bot, interaction, found)

    @app_commands.command(name="explain", description="Why was a paper posted — or not — for my subscriptions?")
    @app_commands.describe(
        paper="arXiv id or URL, DOI, or the id in a footer",
        subscription="Only this subscription (in DMs: alert) id; default: all of them",
    )
    @user_cooldown()
    @budget.expensive()
    async def explain(self, interaction: discord.Interaction, paper: str, subscription: int | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.store.get_paper(paper_key(paper))
        if found is None:
            raise UserFacingError(
                f"I don't have {code(trim(paper, 100))} stored, so nothing could have matched "
                "it. It may not have been listed by a source yet."
            )
        subs = await self._explainable(interaction, subscription)
        if not subs:
            hint = "`/alerts add` (or, for a channel, `/subscriptions add`)"
            await reply(interaction, f"There is nothing of yours to explain against here. Add one with {hint}.")
            return
        lines = [
            _explanation_line(await self.bot.engine.explain(found, s), interaction.guild_id)
            + await feedback_text(self.bot.store, s.target, found.id)
            for s in subs
        ]
        for target in dict.fromkeys(s.target for s in subs):
            if score := relevance.score_line(self.bot, target, found):
                lines.append(score + (f" — <#{target.id}>" if target.scope is Scope.GUILD else ""))
        title = trim(f"{found.id}: {found.title}", 250)
        await reply(interaction, embeds=line_embeds(title, lines))

    async def _explainable(self, interaction: discord.Interaction, subscription: int | None) -> list[Subscription]:
        """What ``explain`` may show this member: in a server, its subscriptions of the channels the member can
        view; everywhere, the member's own alerts. Any other id reads exactly as a nonexistent one."""
        shown: list[Subscription] = []
        if interaction.guild is not None:
            in_server = await self.bot.store.list_subscriptions(Owner.guild(interaction.guild.id), counted=False)
            shown = [sub for sub in in_server if access.can_view(interaction, sub)]
        shown += await self.bot.store.list_subscriptions(Owner.user(interaction.user.id), counted=False)
        if subscription is None:
            return shown[:MAX_EXPLAINED]
        shown = [sub for sub in shown if sub.id == subscription]
        if not shown:
            raise UserFacingError(f"#{subscription} is not a subscription or alert of yours that I can find here.")
        return shown

    @app_commands.command(name="status", description="Sources, outbox and uptime")
    @user_cooldown()
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        # A failing source's error can carry its URL (and whatever credential the operator put in it): only the
        # bot's owner (the application's owner or team) sees it; everyone else sees whether the source is ok.
        details = await self.bot.is_owner(interaction.user)
        lines = []
        for source in self.bot.sources:
            state = await self.bot.store.source_state(source.name)
            stored = await self.bot.store.count_papers(source.name)
            last = relative_time(state.last_success_at) if state and state.last_success_at else "never"
            health = "ok"
            next_poll = self.bot.next_poll_time(source.name)
            if state and state.consecutive_failures:
                health = "degraded"
                if details:
                    health += f": {state.consecutive_failures} failure(s) in a row: {trim(state.last_error or '', 150)}"
                if state.next_attempt_at and (next_poll is None or state.next_attempt_at > next_poll):
                    next_poll = state.next_attempt_at  # backing off
            lines.append(
                f"**{source.name}** · last good poll {last} · next {relative_time(next_poll)} · "
                f"{health} · {stored} papers"
            )
        lines.append(
            f"Outbox: {await self.bot.store.outbox_depth()} waiting · "
            f"{await self.bot.store.count_papers()} papers stored · "
            f"up {timedelta(seconds=int(time.monotonic() - self.started))}"
        )
        storage = await self.bot.store.storage_stats()
        keep = self.bot.settings.storage.keep_papers_days
        lines.append(
            f"Database: {storage.file_bytes / 1e6:.1f} MB · {storage.papers} papers stored · oldest kept "
            f"{relative_time(storage.oldest_paper) if storage.oldest_paper else 'none'} · "
            f"{f'keeping {keep} days' if keep else 'keeping every paper'}"
        )
        await reply(interaction, embeds=line_embeds("paperbot status", lines))

    @app_commands.command(name="help", description="What paperbot does, the query language, schedules and commands")
    @user_cooldown()
    async def help(self, interaction: discord.Interaction) -> None:
        await reply(interaction, embeds=help_embeds(self.bot.tree))


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Papers(bot))
