"""Splitting query text into lexical tokens: words, quoted phrases, parentheses, ``-`` and ``field:``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto

from bot.matching.errors import QueryError

# A field is letters followed by a colon at the start of a word (``ti:``, ``Author:``). Words like
# ``1:2`` or ``x86:`` are not fields. Unknown names are rejected by the parser, not taken literally,
# so a typo such as ``tilte:llm`` is reported instead of silently searching for "tilte llm".
_FIELD_RE = re.compile(r"([^\W\d_]+):")

# Characters that end a bare word.
_WORD_BREAKS = frozenset('()"')


class Kind(Enum):
    WORD = auto()
    PHRASE = auto()
    LPAREN = auto()
    RPAREN = auto()
    MINUS = auto()
    FIELD = auto()
    END = auto()


@dataclass(frozen=True, slots=True)
class Lexeme:
    """One lexical token: ``text`` is the word, the phrase without quotes, or the field name."""

    kind: Kind
    text: str
    start: int
    end: int


def lex(query: str) -> list[Lexeme]:
    """Split ``query`` into lexemes, ending with an ``END`` lexeme. Raises QueryError for an open quote
    or a ``-`` with nothing attached to it."""
    lexemes: list[Lexeme] = []
    i = 0
    size = len(query)
    while i < size:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            lexemes.append(Lexeme(Kind.LPAREN if char == "(" else Kind.RPAREN, char, i, i + 1))
            i += 1
        elif char == '"':
            close = query.find('"', i + 1)
            if close < 0:
                raise QueryError('This quote is never closed: add a matching "', i, query)
            lexemes.append(Lexeme(Kind.PHRASE, query[i + 1 : close], i, close + 1))
            i = close + 1
        elif char == "-":
            following = query[i + 1] if i + 1 < size else ""
            if not following or following.isspace() or following == ")":
                raise QueryError(
                    "A '-' excludes what comes right after it (e.g. -survey, -\"case study\", -(a OR b)), "
                    "but nothing follows this one",
                    i,
                    query,
                )
            lexemes.append(Lexeme(Kind.MINUS, char, i, i + 1))
            i += 1
        else:
            end = i
            while end < size and not query[end].isspace() and query[end] not in _WORD_BREAKS:
                end += 1
            field = _FIELD_RE.match(query, i, end)
            if field:
                # Lexing resumes right after the colon, so the field's operand (a word, a quote,
                # a group, a '-' or even another field) is lexed as usual.
                lexemes.append(Lexeme(Kind.FIELD, field.group(1), i, field.end()))
                i = field.end()
            else:
                lexemes.append(Lexeme(Kind.WORD, query[i:end], i, end))
                i = end
    lexemes.append(Lexeme(Kind.END, "", size, size))
    return lexemes
