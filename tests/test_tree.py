"""The command tree's one error path: which errors are the user's, and what they are told."""

from __future__ import annotations

from discord import app_commands

from bot.delivery.schedule import ScheduleError
from bot.engine import LimitReached
from bot.matching import QueryError, parse_query
from bot.tree import UserFacingError, user_message


def _invoke_error(exc: Exception) -> app_commands.AppCommandError:
    """What discord.py hands on_error when a command's callback raises ``exc``."""
    error = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    error.original = exc
    return error


def _query_error(text: str) -> QueryError:
    try:
        parse_query(text)
    except QueryError as exc:
        return exc
    raise AssertionError(f"{text!r} parsed")


def test_user_errors_raised_directly_or_wrapped_are_shown_as_written():
    assert user_message(UserFacingError("Pick a text channel.")) == "Pick a text channel."
    assert user_message(_invoke_error(LimitReached("This server already has 50"))) == "This server already has 50"
    assert user_message(_invoke_error(ScheduleError("Unknown timezone 'Mars'."))) == "Unknown timezone 'Mars'."


def test_query_errors_get_a_caret_under_the_position():
    message = user_message(_invoke_error(_query_error("llm OR")))
    assert message == (
        "That query can't be used: 'OR' needs a search term after it (at character 5)\n```\nllm OR\n    ^\n```\n"
        "The query language, with examples: `/papers help`."
    )
    # No position, no caret; backticks in the query cannot close the code block.
    assert user_message(_invoke_error(_query_error("-x"))).count("```") == 0
    assert "```" not in user_message(_invoke_error(_query_error("```(a"))).split("```\n", 1)[1].rsplit("\n```", 1)[0]
    # Every query error points at the help, caret or not.
    assert user_message(_invoke_error(_query_error("-x"))).endswith("`/papers help`.")


def test_bugs_are_not_shown_to_users():
    assert user_message(_invoke_error(KeyError("boom"))) is None
