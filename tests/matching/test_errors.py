"""QueryError: the message for people, and the caret under the offending character."""

from __future__ import annotations

import pytest

from bot.matching import QueryError, parse_query


def error_for(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    return caught.value


def test_error_string_counts_from_one_and_points_at_the_problem() -> None:
    error = error_for("llm OR")
    assert str(error) == "'OR' needs a search term after it (at character 5)"
    assert error.with_caret().splitlines()[1:] == ["llm OR", "    ^"]


def test_error_without_position_has_no_caret() -> None:
    error = error_for("-survey")
    assert error.with_caret() == error.message == str(error)


def test_caret_needs_the_query_text() -> None:
    error = QueryError("Something is wrong here", 3)
    assert error.with_caret() == str(error) == "Something is wrong here (at character 4)"


@pytest.mark.parametrize(("position", "caret"), [(0, "^"), (3, "   ^"), (6, "      ^")])
def test_caret_lines_up_under_the_position(position: int, caret: str) -> None:
    # Tabs and newlines would shift the caret: they are shown as spaces.
    error = QueryError("m", position, "a\tb\ncd")
    assert error.with_caret() == f"m (at character {position + 1})\na b cd\n{caret}"


def test_query_error_is_a_value_error() -> None:
    assert isinstance(error_for("a OR"), ValueError)
