"""Lexing: query text into words, phrases, parentheses, ``-`` and ``field:``, with their offsets."""

from __future__ import annotations

import pytest

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
