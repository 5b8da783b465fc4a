"""What ``/subscriptions`` (a server's) and ``/alerts`` (a user's) share: the bodies of add, pause / resume /
remove, settings and autocomplete, for whichever owner the cog passes in. The cogs keep their own option names,
descriptions and checks; everything else is said once, here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs import budget, relevance
from bot.cogs.ui import (
    AUTOCOMPLETE_LIMIT,
    WEEKDAY_CHOICES,
    code,
    relative_time,
    reply,
    timezone_autocomplete,
    user_cooldown,
)
from bot.delivery.render import trim
from bot.delivery.schedule import next_due, parse_digest_time, parse_weekday, validate_timezone
from bot.matching import parse_query
from bot.models import DigestSettings, Mode, Owner, Schedule, Scope, Subscription, SubscriptionStatus
from bot.reading import PREVIEW_DAYS
from bot.store import Store
from bot.tree import UserFacingError

if TYPE_CHECKING:
    from bot.app import PaperBot

T = TypeVar("T")

# The options both add commands declare alike.
MinUpvotes = app_commands.Range[int, 0, 100_000]
Backfill = app_commands.Range[int, 0, 10]
MaxPerDay = app_commands.Range[int, 0, 1000]

# How a schedule reads in choices and replies: words, not the enum's member names.
SCHEDULE_NAMES = {Schedule.INSTANT: "instant", Schedule.DAILY: "daily digest", Schedule.WEEKLY: "weekly digest"}


class ScheduleOption(app_commands.Transformer):
    """The ``schedule`` option: choices named as words ("daily digest"), valued as stored ("daily")."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]]:
        return [app_commands.Choice(name=SCHEDULE_NAMES[s], value=str(s)) for s in Schedule]

    async def transform(self, interaction: discord.Interaction, value: str) -> Schedule:
        return Schedule(value)


ScheduleChoice = app_commands.Transform[Schedule, ScheduleOption]


MODE_CHOICES = [app_commands.Choice(name=str(mode), value=str(mode)) for mode in Mode]


def describe_add(*, query: str, backfill: str, **more: str) -> Callable[[T], T]:
    """``app_commands.describe`` and ``choices`` for an add command: its own query example and backfill wording,
    the rest alike."""
    describe = app_commands.describe(
        query=f"What to match, e.g. {query} (see the README for the syntax; optional in recommend mode)",
        mode="match (default): the query decides; recommend: a profile learned from liked papers ranks them",
        like="Comma-separated arXiv ids of stored papers you like, to seed the profile (recommend mode)",
        schedule="instant (default), or one daily / weekly digest message",
        min_upvotes="Only papers with at least this many Hugging Face upvotes (default 0)",
        backfill=f"Also {backfill} up to this many recent stored matches now (0-10, default 0)",
        max_per_day="At most this many instant posts a day, most upvoted first; the rest in one list at digest time",
        **more,
    )
    choices = app_commands.choices(mode=MODE_CHOICES)
    return lambda command: describe(choices(command))


# How each scope names its subscriptions and its commands in replies.
NOUN = {Scope.GUILD: "Subscription", Scope.USER: "Alert"}
NOT_FOUND = {Scope.GUILD: "in this server", Scope.USER: "among your alerts"}
GROUP = {Scope.GUILD: "/subscriptions", Scope.USER: "/alerts"}


def status_text(sub: Subscription) -> str:
    if sub.status is SubscriptionStatus.ACTIVE:
        return "active"
    return f"paused ({sub.pause_reason})" if sub.pause_reason else "paused"


def delivery_text(sub: Subscription) -> str:
    """``instant``, ``daily digest``, plus the upvote threshold when there is one."""
    text = SCHEDULE_NAMES[sub.schedule]
    text += ", recommend mode" if sub.mode is Mode.RECOMMEND else ""
    text += f", ≥ {sub.min_upvotes} upvotes" if sub.min_upvotes else ""
    text += f", at most {sub.max_per_day} a day" if sub.max_per_day else ""
    return text + (f", pings <@&{sub.mention_role_id}>" if sub.mention_role_id else "")


def subscription_line(sub: Subscription) -> str:
    where = f"<#{sub.channel_id}> · " if sub.channel_id else ""
    return (
        f"**#{sub.id}** · {where}{status_text(sub)} · {delivery_text(sub)} · {sub.delivered_count} delivered\n"
        f"{code(trim(sub.query, 200)) if sub.query else '(no query: the profile decides)'}"
    )


async def subscription_choices(
    store: Store,
    owner: Owner,
    current: str,
    channel_name: Callable[[int], str | None] = lambda _: None,
    shown: Callable[[Subscription], bool] = lambda _: True,
) -> list[app_commands.Choice[int]]:
    """Autocomplete: this owner's subscriptions (those ``shown`` to the member) whose id, query or channel
    contains what was typed."""
    needle = current.strip().lstrip("#").casefold()
    choices = []
    for sub in await store.list_subscriptions(owner, counted=False):
        if not shown(sub):
            continue
        where = f" · #{channel_name(sub.channel_id) or sub.channel_id}" if sub.channel_id else ""
        label = f"#{sub.id} · {sub.query}{where} · {status_text(sub)}"
        if needle in label.casefold():
            choices.append(app_commands.Choice(name=trim(label, 100), value=sub.id))
    return choices[:AUTOCOMPLETE_LIMIT]


def next_digest_text(settings: DigestSettings, now: datetime) -> str:
    daily = next_due(now, Schedule.DAILY, settings)
    weekly = next_due(now, Schedule.WEEKLY, settings)
    return f"next daily digest {relative_time(daily)}, next weekly digest {relative_time(weekly)}"


def add_limits(command: T) -> T:
    """The limits both add commands have: the per-command cooldown and, with a backfill, the shared budget."""
    return user_cooldown()(budget.expensive(only_with="backfill")(command))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class AddOptions:
    """The options both add commands take, as the member gave them."""

    query: str | None
    schedule: Schedule
    min_upvotes: int
    backfill: int
    max_per_day: int
    mode: str
    like: str | None


async def add_subscription(
    bot: PaperBot,
    interaction: discord.Interaction,
    owner: Owner,
    options: AddOptions,
    *,
    headline: str,
    channel_id: int | None = None,
    forum: bool = False,
    forum_tags: Sequence[int] = (),
    mention_role_id: int | None = None,
) -> None:
    """The body of ``/subscriptions add`` and ``/alerts add``: create, then explain what will happen.

    ``headline`` is formatted with ``id`` and ``delivery`` (e.g. "Alert **#{id}** added ({delivery}).").
    A bad query, a full quota or a backfill too costly to find raises (QueryError, LimitReached, QueryTooBroad);
    the command tree tells the user.
    """
    query, schedule, max_per_day, mode = options.query, options.schedule, options.max_per_day, options.mode
    if max_per_day and schedule is not Schedule.INSTANT:
        raise UserFacingError(
            f"`max_per_day` limits instant posts; a {SCHEDULE_NAMES[schedule]} already arrives as one message. "
            "Use one or the other."
        )
    await interaction.response.defer(ephemeral=True, thinking=True)
    if mode == Mode.MATCH and not (query and query.strip()):
        raise UserFacingError("A `mode:match` subscription needs a `query:`. Give one, or choose `mode:recommend`.")
    parsed = parse_query(query) if query and query.strip() else None
    liked = await relevance.liked_ids(bot, options.like)
    sub, queued = await bot.engine.add_subscription(
        owner=owner,
        user_id=interaction.user.id,
        query=parsed,
        channel_id=channel_id,
        schedule=schedule,
        min_upvotes=options.min_upvotes,
        backfill=min(options.backfill, bot.settings.delivery.max_backfill),
        forum=forum,
        forum_tags=forum_tags,
        mention_role_id=mention_role_id,
        max_per_day=max_per_day,
        mode=Mode(mode),
    )
    await relevance.seed(bot, sub.target, interaction.user.id, liked)
    lines = [headline.format(id=sub.id, delivery=delivery_text(sub))]
    if parsed is not None:
        lines += [f"Query: {code(parsed.text)}", f"Understood as: {code(parsed.describe())}"]
    if note := relevance.profile_note(bot, sub, len(liked)):
        lines.append(note)
    lines.append(f"Next check for new papers: {relative_time(bot.next_check_time())}.")
    if schedule is not Schedule.INSTANT:
        settings = await bot.store.digest_settings(owner)
        lines.append(
            f"Digests: {settings.describe()} — {next_digest_text(settings, bot.clock())}. "
            f"Change with `{GROUP[owner.scope]} settings`."
        )
    if queued:
        lines.append(f"Sending the {queued} most recent stored match{'es' if queued != 1 else ''} now.")
    elif options.backfill and parsed is None:
        lines.append("Backfill takes the newest matches of a query; without one there is nothing to backfill.")
    elif options.backfill:
        lines.append(f"No stored papers from the last {PREVIEW_DAYS} days match yet, so nothing to backfill.")
    if owner.scope is Scope.USER:
        lines.append("Make sure you accept DMs from me (this server's privacy settings, or install the app).")
    await reply(interaction, "\n".join(lines))
    if queued:
        await bot.deliver()


async def update_digest_settings(
    store: Store, owner: Owner, timezone: str | None, digest_time: str | None, weekly_day: str | None
) -> tuple[DigestSettings, bool]:
    """Apply whichever options were given (validated: ScheduleError); returns the settings and whether they
    changed."""
    current = await store.digest_settings(owner)
    if timezone is None and digest_time is None and weekly_day is None:
        return current, False
    updated = replace(
        current,
        timezone=validate_timezone(timezone) if timezone is not None else current.timezone,
        digest_time=parse_digest_time(digest_time) if digest_time is not None else current.digest_time,
        weekly_day=parse_weekday(weekly_day) if weekly_day is not None else current.weekly_day,
    )
    await store.save_digest_settings(owner, updated)
    return updated, True


async def digest_settings_command(
    bot: PaperBot,
    interaction: discord.Interaction,
    owner: Owner,
    timezone: str | None,
    digest_time: str | None,
    weekly_day: str | None,
) -> None:
    """The body of ``/subscriptions settings`` and ``/alerts settings``."""
    settings, changed = await update_digest_settings(bot.store, owner, timezone, digest_time, weekly_day)
    whose = "this server's" if owner.scope is Scope.GUILD else "your"
    verb = f"Updated {whose} digest settings" if changed else f"{whose.capitalize()} digest settings"
    await reply(interaction, f"{verb}: {settings.describe()}; {next_digest_text(settings, bot.clock())}.")


class SubscriptionIdOption(app_commands.Transformer):
    """An option naming one of the invoker's subscriptions by id (#N), autocompleted from them by the command's
    cog (``OwnedCommands.choices``)."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.integer

    async def transform(self, interaction: discord.Interaction, value: int) -> int:
        return int(value)

    async def autocomplete(  # type: ignore[override]  # the choices are ints, as the option is
        self, interaction: discord.Interaction, value: int | float | str, /
    ) -> list[app_commands.Choice[int]]:
        cog = interaction.command.binding if isinstance(interaction.command, app_commands.Command) else None
        return await cog.choices(interaction, str(value)) if isinstance(cog, OwnedCommands) else []


SubscriptionId = app_commands.Transform[int, SubscriptionIdOption]


class OwnedCommands(commands.Cog):
    """The commands ``/subscriptions`` and ``/alerts`` share: ``settings`` (declared here) and the body of pause /
    resume / remove (``change``). Each cog says whose subscriptions they are (``owner_of``: the server's, or the
    user's) and may check a change first (``check_change``)."""

    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot
        super().__init__()

    def owner_of(self, interaction: discord.Interaction) -> Owner:
        raise NotImplementedError

    def channel_name(self, interaction: discord.Interaction, channel_id: int) -> str | None:
        """How autocomplete names a subscription's channel; None: by its id."""
        return None

    def may_change(self, interaction: discord.Interaction, sub: Subscription) -> bool:
        """Whether this member may see and change one of the owner's subscriptions; by default the owner may."""
        return True

    def check_settings(self, interaction: discord.Interaction) -> None:
        """Raise UserFacingError if this member may not change the owner's digest settings; by default anyone may."""

    async def choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        """Autocomplete for a subscription id option: this owner's subscriptions, those the member may change,
        matching what was typed; none while the member is over their budget (``bot.cogs.budget``)."""
        if budget.spend(interaction, budget.AUTOCOMPLETE_COST):
            return []
        owner = self.owner_of(interaction)
        return await subscription_choices(
            self.bot.store,
            owner,
            current,
            lambda channel_id: self.channel_name(interaction, channel_id),
            lambda sub: self.may_change(interaction, sub),
        )

    async def check_change(
        self, interaction: discord.Interaction, subscription_id: int, status: SubscriptionStatus
    ) -> None:
        """Raise UserFacingError if this member may not make the change; by default anyone may."""

    async def change(
        self,
        interaction: discord.Interaction,
        subscription_id: int,
        status: SubscriptionStatus,
        done: str,
        reason: str | None = None,
    ) -> None:
        """Pause, resume or remove one of this owner's subscriptions and say so; a resumed subscription's
        waiting papers are sent at once."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.check_change(interaction, subscription_id, status)
        owner = self.owner_of(interaction)
        noun = NOUN[owner.scope]
        sub = await self.bot.engine.set_status(owner, subscription_id, status, reason)
        if sub is None:
            raise UserFacingError(f"{noun} #{subscription_id} was not found {NOT_FOUND[owner.scope]}.")
        await reply(interaction, f"{noun} **#{sub.id}** ({code(trim(sub.query, 200))}) {done}.")
        if status is SubscriptionStatus.ACTIVE:
            await self.bot.deliver()

    @app_commands.command(name="settings", description="Show or change when digests are sent")
    @app_commands.describe(
        timezone="IANA timezone, e.g. Europe/Berlin or America/New_York (default UTC)",
        digest_time="Local time of day for digests, HH:MM (default 09:00)",
        weekly_day="Day of the week for weekly digests (default Monday)",
    )
    @app_commands.choices(weekly_day=WEEKDAY_CHOICES)
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    @user_cooldown()
    async def settings(
        self,
        interaction: discord.Interaction,
        timezone: str | None = None,
        digest_time: str | None = None,
        weekly_day: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if timezone is not None or digest_time is not None or weekly_day is not None:
            self.check_settings(interaction)
        owner = self.owner_of(interaction)
        await digest_settings_command(self.bot, interaction, owner, timezone, digest_time, weekly_day)
