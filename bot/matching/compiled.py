"""A stored query's compiled form: what the subscription index needs of it, as one short string.

A restarted bot indexes every stored subscription before it can match. Parsing a query costs tens of µs, so a
million would keep a new leader from polling for a minute or more; decoding this form costs a few µs. It is kept
beside the query text (table ``query_forms``) and written back when a load had to parse the text.

The form is ``<version>|<shape>|<term>|<term>…``: the query's shape (:mod:`bot.matching.shapes`) as nested
``A(…)`` / ``O(…)`` / ``N…`` / ``L``, and each term as a field letter, a flags digit (1: stemmed, 2: prefix) and its
tokens separated by spaces. Tokens are letters and digits (categories also dots and dashes), so ``|``, ``(``,
``)`` and spaces never occur in them. A form of another version, or one that does not decode, is ignored: the text
is parsed again (and the form rewritten), so a form can be stale but never wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.matching.nodes import And, Field, Not, Or, Term
from bot.matching.query import Query
from bot.matching.shapes import LEAF, Shape

# Bump whenever parsing or normalization changes what a query text means (or this format changes): every stored
# form then reads as stale and is rebuilt from its text on the next load.
VERSION = "1"
_SEPARATOR = "|"
_FIELD_LETTERS = {
    Field.TEXT: "x",
    Field.TITLE: "t",
    Field.ABSTRACT: "a",
    Field.AUTHOR: "u",
    Field.CATEGORY: "c",
}
_FIELDS = {letter: field for field, letter in _FIELD_LETTERS.items()}
_STEMMED, _PREFIX = 1, 2
_CACHE_LIMIT = 1 << 16  # entries each cache below keeps before it starts afresh

IndexForm = tuple[Shape, tuple[Term, ...]]
_Decoded = TypeVar("_Decoded", Shape, Term, IndexForm)


def encode(query: Query) -> str:
    """The compiled form of a parsed query."""
    shape, terms = query.shape
    return _SEPARATOR.join([VERSION, _encode_shape(shape), *map(_encode_term, terms)])


def decode(form: str) -> IndexForm | None:
    """The shape and terms of a compiled form; None for another version or anything that does not decode."""
    return _cached(_FORMS, form, _decode)


def _decode(form: str) -> IndexForm | None:
    version, _, rest = form.partition(_SEPARATOR)
    if version != VERSION:
        return None
    shape_code, *term_codes = rest.split(_SEPARATOR)
    shape = _cached(_SHAPES, shape_code, _decode_shape)
    terms = []
    for code in term_codes:
        term = _cached(_TERMS, code, _decode_term)
        if term is None:
            return None
        terms.append(term)
    if shape is None or len(terms) != _width(shape):
        return None
    return shape, tuple(terms)


# Decoded forms, shapes and terms, remembered: texts repeat across subscriptions, and terms across texts.
_FORMS: dict[str, IndexForm] = {}
_SHAPES: dict[str, Shape] = {}
_TERMS: dict[str, Term] = {}


def _cached(cache: dict[str, _Decoded], code: str, decoder: Callable[[str], _Decoded | None]) -> _Decoded | None:
    found = cache.get(code)
    if found is None:
        found = decoder(code)
        if found is not None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[code] = found
    return found


def _encode_shape(shape: Shape) -> str:
    match shape:
        case Term():
            return "L"
        case Not(child=child):
            return "N" + _encode_shape(child)
        case And(children=children):
            return "A(" + "".join(map(_encode_shape, children)) + ")"
        case Or(children=children):
            return "O(" + "".join(map(_encode_shape, children)) + ")"


def _decode_shape(code: str) -> Shape | None:
    try:
        shape, end = _shape_at(code, 0)
    except (IndexError, ValueError):
        return None
    return shape if end == len(code) else None


def _shape_at(code: str, at: int) -> tuple[Shape, int]:
    """The shape starting at ``at`` and where it ends; ValueError or IndexError when it is malformed."""
    head = code[at]
    if head == "L":
        return LEAF, at + 1
    if head == "N":
        child, end = _shape_at(code, at + 1)
        return Not(child), end
    if head not in "AO" or code[at + 1] != "(":
        raise ValueError(code)
    children: list[Shape] = []
    at += 2
    while code[at] != ")":
        child, at = _shape_at(code, at)
        children.append(child)
    if len(children) < 2:
        raise ValueError(code)
    return (And if head == "A" else Or)(tuple(children)), at + 1


def _width(shape: Shape) -> int:
    match shape:
        case Term():
            return 1
        case Not(child=child):
            return _width(child)
        case And(children=children) | Or(children=children):
            return sum(map(_width, children))


def _encode_term(term: Term) -> str:
    flags = (_STEMMED if term.stemmed else 0) | (_PREFIX if term.prefix else 0)
    return f"{_FIELD_LETTERS[term.field]}{flags}{' '.join(term.tokens)}"


def _decode_term(code: str) -> Term | None:
    field = _FIELDS.get(code[:1])
    flags = code[1:2]
    tokens = tuple(code[2:].split(" "))
    if field is None or flags not in ("0", "1", "2", "3") or not all(tokens):
        return None
    return Term(field, tokens, stemmed=bool(int(flags) & _STEMMED), prefix=bool(int(flags) & _PREFIX))
