"""Splitting query text into lexical tokens: words, quoted phrases, parentheses, ``-`` and ``field:``."""

from __future__ import annotations

import re
from enum import Enum, auto
from typing import NamedTuple

from bot.matching.errors import QueryError

# One lexeme after optional whitespace (``\s`` is exactly ``str.isspace``), as numbered groups: a parenthesis, a
# quoted phrase, a '-' with something attached, a field name (letters followed by a colon at the start of a word:
# ``ti:``, ``Author:``, not ``1:2`` or ``x86:``), or a bare word, which runs to whitespace, a parenthesis or a quote.
# Unknown field names are rejected by the parser, not taken literally, so a typo such as ``tilte:llm`` is reported
# instead of silently searching for "tilte llm". Lexing resumes right after a field's colon, so its operand (a word,
# a quote, a group, a '-' or even another field) is lexed as usual. One regular expression per lexeme instead of a
# loop per character: parsing every stored query is what a restarted bot does first.
_LEXEME_RE = re.compile(r'\s*(?:([()])|"([^"]*)"|(-)(?=[^\s)])|([^\W\d_]+):|([^\s()"-][^\s()"]*))')
_SPACE_RE = re.compile(r"\s*")
_PAREN, _PHRASE, _MINUS, _FIELD, _WORD = range(1, 6)


class Kind(Enum):
    WORD = auto()
    PHRASE = auto()
    LPAREN = auto()
    RPAREN = auto()
    MINUS = auto()
    FIELD = auto()
    END = auto()


class Lexeme(NamedTuple):
    """One lexical token: ``text`` is the word, the phrase without quotes, or the field name. (A named tuple:
    it is built several times per query, and a tuple is the cheapest immutable record to build.)"""

    kind: Kind
    text: str
    start: int
    end: int


def lex(query: str) -> list[Lexeme]:
    """Split ``query`` into lexemes, ending with an ``END`` lexeme. Raises QueryError for an open quote
    or a ``-`` with nothing attached to it."""
    lexemes: list[Lexeme] = []
    append = lexemes.append
    match = _LEXEME_RE.match
    i = 0
    while found := match(query, i):
        group = found.lastindex
        i = found.end()
        if group == _WORD:
            append(Lexeme(Kind.WORD, found.group(_WORD), found.start(_WORD), i))
        elif group == _FIELD:
            append(Lexeme(Kind.FIELD, found.group(_FIELD), found.start(_FIELD), i))
        elif group == _PHRASE:
            append(Lexeme(Kind.PHRASE, found.group(_PHRASE), found.start(_PHRASE) - 1, i))
        elif group == _MINUS:
            append(Lexeme(Kind.MINUS, "-", i - 1, i))
        else:
            paren = found.group(_PAREN)
            append(Lexeme(Kind.LPAREN if paren == "(" else Kind.RPAREN, paren, i - 1, i))
    i = _SPACE_RE.match(query, i).end()  # type: ignore[union-attr]  # "\s*" always matches
    if i < len(query):
        # Only two things stop the lexemes early: a quote with no closing one, and a '-' with nothing after it.
        if query[i] == '"':
            raise QueryError('This quote is never closed: add a matching "', i, query)
        raise QueryError(
            "A '-' excludes what comes right after it (e.g. -survey, -\"case study\", -(a OR b)), "
            "but nothing follows this one",
            i,
            query,
        )
    append(Lexeme(Kind.END, "", i, i))
    return lexemes
