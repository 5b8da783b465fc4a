"""Lexing: query text into words, phrases, parentheses, ``-`` and ``field:``, with their offsets."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import QueryError
from bot.matching.lexer import Kind, lex


def lexed(text: str) -> list[tuple[Kind, str, int, int]]:
    return [(lexeme.kind, lexeme.text, lexeme.start, lexeme.end) for lexeme in lex(text)]


def test_every_kind_with_its_offsets() -> None:
    assert lexed('ti:(a OR "b c") -x') == [
        (Kind.FIELD, "ti", 0, 3),
        (Kind.LPAREN, "(", 3, 4),
        (Kind.WORD, "a", 4, 5),
        (Kind.WORD, "OR", 6, 8),
        (Kind.PHRASE, "b c", 9, 14),
        (Kind.RPAREN, ")", 14, 15),
        (Kind.MINUS, "-", 16, 17),
        (Kind.WORD, "x", 17, 18),
        (Kind.END, "", 18, 18),
    ]


def test_a_field_is_letters_then_a_colon() -> None:
    # Digits before a colon make a word; the field's operand is lexed on its own right after it.
    assert lexed("1:2 x86: Author:li") == [
        (Kind.WORD, "1:2", 0, 3),
        (Kind.WORD, "x86:", 4, 8),
        (Kind.FIELD, "Author", 9, 16),
        (Kind.WORD, "li", 16, 18),
        (Kind.END, "", 18, 18),
    ]


def test_a_minus_inside_a_word_is_part_of_it() -> None:
    assert lexed("long-context")[0] == (Kind.WORD, "long-context", 0, 12)


def test_empty_text_is_just_the_end() -> None:
    assert lexed(" \t") == [(Kind.END, "", 2, 2)]


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ('llm "long context', 4, "quote"),
        ("llm -", 4, "nothing follows"),
        ("llm - rag", 4, "nothing follows"),
        ("(llm -)", 5, "nothing follows"),
    ],
)
def test_errors(text: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        lex(text)
    assert caught.value.position == position
    assert fragment in caught.value.message
    assert caught.value.query == text


def _reference_lex(query: str) -> list[tuple[Kind, str, int, int]] | tuple[str, int]:
    """The lexer as first written, one character at a time: the regular expression must agree with it exactly
    (lexemes, or the error's message and position)."""
    out: list[tuple[Kind, str, int, int]] = []
    i, size = 0, len(query)
    while i < size:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            out.append((Kind.LPAREN if char == "(" else Kind.RPAREN, char, i, i + 1))
            i += 1
        elif char == '"':
            close = query.find('"', i + 1)
            if close < 0:
                return ("never closed", i)
            out.append((Kind.PHRASE, query[i + 1 : close], i, close + 1))
            i = close + 1
        elif char == "-":
            following = query[i + 1] if i + 1 < size else ""
            if not following or following.isspace() or following == ")":
                return ("nothing follows", i)
            out.append((Kind.MINUS, char, i, i + 1))
            i += 1
        else:
            end = i
            while end < size and not query[end].isspace() and query[end] not in '()"':
                end += 1
            field = re.compile(r"([^\W\d_]+):").match(query, i, end)
            if field:
                out.append((Kind.FIELD, field.group(1), i, field.end()))
                i = field.end()
            else:
                out.append((Kind.WORD, query[i:end], i, end))
                i = end
    out.append((Kind.END, "", size, size))
    return out


# Every character class the lexer tells apart, and some it must not (unicode spaces, digits, letters, colons).
_QUERY_CHARS = st.sampled_from([*'ab Z9_:-()"*\t\u00a0\u2003\x1cé.', "ti:", "AU:", "x86:", " OR ", "-(", '"a b"'])


@given(st.lists(_QUERY_CHARS, max_size=30).map("".join))
@settings(max_examples=2000)
def test_agrees_with_the_character_by_character_lexer(text: str) -> None:
    expected = _reference_lex(text)
    if isinstance(expected, tuple):
        with pytest.raises(QueryError) as raised:
            lex(text)
        assert expected[0] in str(raised.value) and raised.value.position == expected[1]
    else:
        assert lexed(text) == expected
