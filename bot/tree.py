"""The command tree: one error path for every slash command (as Red-DiscordBot's ``RedTree`` does).

Commands raise; they never format their own errors. What a user caused — a :class:`UserFacingError`, or the
engine's :class:`QueryError`, :class:`ScheduleError`, :class:`LimitReached` and :class:`QueryTooBroad` — is
shown to them ephemerally; anything else is a bug: logged with its traceback, and the user is told something went wrong.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.cogs.budget import UserBudget, slow_down
from bot.cogs.help import HELP_COMMAND
from bot.cogs.ui import code, reply
from bot.delivery.schedule import ScheduleError
from bot.engine import LimitReached
from bot.matching import QueryError
from bot.search import QueryTooBroad

log = logging.getLogger(__name__)

QUERY_HELP_HINT = f"The query language, with examples: `{HELP_COMMAND}`."


class UserFacingError(app_commands.AppCommandError):
    """An error the user caused; its message is shown to them ephemerally."""


def query_error_message(error: QueryError) -> str:
    """What is wrong with a query, with a caret under the offending character when there is one."""
    message = f"That query can't be used: {error}"
    if error.position is not None and error.query is not None:
        # The last two lines of with_caret() are the query (whitespace shown as spaces) and the caret under it.
        shown = "\n".join(error.with_caret().rsplit("\n", 2)[-2:]).replace("`", "ʼ")
        message += f"\n```\n{shown}\n```"
    return message + f"\n{QUERY_HELP_HINT}"


def user_message(error: app_commands.AppCommandError) -> str | None:
    """The reply for an error the user caused, or None when it is a bug."""
    original = getattr(error, "original", error)
    if isinstance(original, UserFacingError | ScheduleError | LimitReached | QueryTooBroad):
        return str(original)
    if isinstance(original, QueryError):
        return query_error_message(original)
    if isinstance(error, app_commands.CommandOnCooldown):
        return slow_down(error.retry_after)
    if isinstance(error, app_commands.CheckFailure):
        return "You don't have permission to use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand the value {code(str(error.value))} for that option."
    return None


class PaperTree(app_commands.CommandTree[discord.Client]):
    """paperbot's command tree, passed to the bot as ``tree_cls``. It holds the per-user budget the expensive
    commands, autocompletes and clicks share (``bot.cogs.budget``)."""

    def __init__(self, client: discord.Client, *args: Any, **kwargs: Any) -> None:
        super().__init__(client, *args, **kwargs)
        self.budget = UserBudget()

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        message = user_message(error)
        if message is None:
            log.error(
                "command %s failed",
                interaction.command and interaction.command.qualified_name,
                exc_info=getattr(error, "original", error),
            )
            message = "Something went wrong on my side; it has been logged. Please try again later."
        try:
            await reply(interaction, message)
        except discord.HTTPException:
            log.warning("could not send an error reply for interaction %s", interaction.id)
