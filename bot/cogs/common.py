"""Helpers shared by the slash-command cogs: replies, query parsing, formatting."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.delivery.render import Embed, pack_messages, trim
from bot.delivery.schedule import (
    ScheduleError,
    next_due,
    parse_digest_time,
    parse_weekday,
    timezone_choices,
    validate_timezone,
)
from bot.engine import PREVIEW_DAYS, LimitReached
from bot.matching import Query, QueryError, parse_query
from bot.models import WEEKDAY_NAMES, WEEKDAYS, DigestSettings, Owner, Schedule, Scope, Subscription, SubscriptionStatus
from bot.store import Store

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

MAX_LINES_EMBED_CHARS = 4000
MAX_CONTENT = 2000
AUTOCOMPLETE_LIMIT = 25


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


async def reply(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embeds: Sequence[Embed] = (),
    ephemeral: bool = True,
) -> None:
    """Answer an interaction whether or not it was deferred; splits embeds across messages as needed."""
    messages = pack_messages(embeds) or [[]]
    for index, batch in enumerate(messages):
        text = trim(content, MAX_CONTENT) if content and index == 0 else None
        as_embeds = [discord.Embed.from_dict(e) for e in batch]
        none = discord.AllowedMentions.none()
        if interaction.response.is_done():
            await interaction.followup.send(
                content=text or discord.utils.MISSING, embeds=as_embeds, ephemeral=ephemeral, allowed_mentions=none
            )
        else:
            await interaction.response.send_message(
                content=text, embeds=as_embeds, ephemeral=ephemeral, allowed_mentions=none
            )


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


def status_text(sub: Subscription) -> str:
    if sub.status is SubscriptionStatus.ACTIVE:
        return "active"
    return f"paused ({sub.pause_reason})" if sub.pause_reason else "paused"


def delivery_text(sub: Subscription) -> str:
    """``instant``, ``daily digest``, plus the upvote threshold when there is one."""
    text = "instant" if sub.schedule is Schedule.INSTANT else f"{sub.schedule} digest"
    return text + (f", ≥ {sub.min_upvotes} upvotes" if sub.min_upvotes else "")


def subscription_line(sub: Subscription) -> str:
    where = f"<#{sub.channel_id}> · " if sub.channel_id else ""
    return (
        f"**#{sub.id}** · {where}{status_text(sub)} · {delivery_text(sub)} · {sub.delivered_count} delivered\n"
        f"{code(trim(sub.query, 200))}"
    )


async def subscription_choices(
    store: Store,
    owner: Owner,
    current: str,
    channel_name: Callable[[int], str | None] = lambda _: None,
) -> list[app_commands.Choice[int]]:
    """Autocomplete: this owner's subscriptions whose id, query or channel contains what was typed."""
    needle = current.strip().lstrip("#").casefold()
    choices = []
    for sub in await store.list_subscriptions(owner):
        where = f" · #{channel_name(sub.channel_id) or sub.channel_id}" if sub.channel_id else ""
        label = f"#{sub.id} · {sub.query}{where} · {status_text(sub)}"
        if needle in label.casefold():
            choices.append(app_commands.Choice(name=trim(label, 100), value=sub.id))
    return choices[:AUTOCOMPLETE_LIMIT]


async def timezone_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=z, value=z) for z in timezone_choices(current)]


WEEKDAY_CHOICES = [app_commands.Choice(name=name, value=key) for key, name in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)]


async def update_digest_settings(
    store: Store, owner: Owner, timezone: str | None, digest_time: str | None, weekly_day: str | None
) -> tuple[DigestSettings, bool]:
    """Apply whichever options were given (validated); returns the settings and whether they changed."""
    current = await store.digest_settings(owner)
    if timezone is None and digest_time is None and weekly_day is None:
        return current, False
    try:
        updated = replace(
            current,
            timezone=validate_timezone(timezone) if timezone is not None else current.timezone,
            digest_time=parse_digest_time(digest_time) if digest_time is not None else current.digest_time,
            weekly_day=parse_weekday(weekly_day) if weekly_day is not None else current.weekly_day,
        )
    except ScheduleError as exc:
        raise UserFacingError(str(exc)) from exc
    await store.save_digest_settings(owner, updated)
    return updated, True


def next_digest_text(settings: DigestSettings, now: datetime) -> str:
    daily = next_due(now, Schedule.DAILY, settings)
    weekly = next_due(now, Schedule.WEEKLY, settings)
    return f"next daily digest {relative_time(daily)}, next weekly digest {relative_time(weekly)}"


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
        log.error("command %s failed", interaction.command and interaction.command.qualified_name, exc_info=original)
        message = "Something went wrong on my side; it has been logged. Please try again later."
    try:
        await reply(interaction, message)
    except discord.HTTPException:
        log.warning("could not send an error reply for interaction %s", interaction.id)


def user_cooldown(rate: int = 5, per: float = 10.0) -> Callable[[Any], Any]:
    """A per-user, per-command rate limit (a fresh bucket for each command it decorates)."""
    return app_commands.checks.cooldown(rate, per, key=lambda i: i.user.id)


async def add_subscription(
    bot: PaperBot,
    interaction: discord.Interaction,
    *,
    owner: Owner,
    headline: str,
    query: str,
    schedule: Schedule,
    min_upvotes: int,
    backfill: int,
    channel_id: int | None = None,
) -> None:
    """The shared body of ``/subscriptions add`` and ``/alerts add``: create, then explain what will happen.

    ``headline`` is formatted with ``id`` and ``delivery`` (e.g. "Alert **#{id}** added ({delivery}).").
    """
    parsed = parse_user_query(query)
    try:
        sub, queued = await bot.engine.add_subscription(
            owner=owner,
            user_id=interaction.user.id,
            query=parsed,
            channel_id=channel_id,
            schedule=schedule,
            min_upvotes=min_upvotes,
            backfill=min(backfill, bot.settings.delivery.max_backfill),
        )
    except LimitReached as exc:
        raise UserFacingError(str(exc)) from exc
    lines = [
        headline.format(id=sub.id, delivery=delivery_text(sub)),
        f"Query: {code(parsed.text)}",
        f"Understood as: {code(parsed.describe())}",
        f"Next check for new papers: {relative_time(bot.next_poll_time())}.",
    ]
    if schedule is not Schedule.INSTANT:
        settings = await bot.store.digest_settings(owner)
        command = "/subscriptions settings" if owner.scope is Scope.GUILD else "/alerts settings"
        lines.append(
            f"Digests: {settings.describe()} — {next_digest_text(settings, bot.clock())}. Change with `{command}`."
        )
    if queued:
        lines.append(f"Sending the {queued} most recent stored match{'es' if queued != 1 else ''} now.")
    elif backfill:
        lines.append(f"No stored papers from the last {PREVIEW_DAYS} days match yet, so nothing to backfill.")
    if owner.scope is Scope.USER:
        lines.append("Make sure you accept DMs from me (this server's privacy settings, or install the app).")
    await reply(interaction, "\n".join(lines))
    if queued:
        await bot.deliver()


async def digest_settings_command(
    bot: PaperBot,
    interaction: discord.Interaction,
    owner: Owner,
    timezone: str | None,
    digest_time: str | None,
    weekly_day: str | None,
) -> None:
    """The shared body of ``/subscriptions settings`` and ``/alerts settings``."""
    settings, changed = await update_digest_settings(bot.store, owner, timezone, digest_time, weekly_day)
    whose = "this server's" if owner.scope is Scope.GUILD else "your"
    verb = f"Updated {whose} digest settings" if changed else f"{whose.capitalize()} digest settings"
    await reply(interaction, f"{verb}: {settings.describe()}; {next_digest_text(settings, bot.clock())}.")
