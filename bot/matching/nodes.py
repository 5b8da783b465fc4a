"""The query syntax tree: what a parsed query means, independent of how it was typed, and the
walks that need nothing but the tree (printing it back, deciding whether it matches an empty paper)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Field(StrEnum):
    """Where a term is looked for. ``TEXT`` is the default: title + abstract + HF AI keywords."""

    TEXT = "text"
    TITLE = "title"
    ABSTRACT = "abstract"
    AUTHOR = "author"
    CATEGORY = "category"


# Fields whose words are Porter-stemmed when typed bare. Author names are never stemmed
# ("Andrews" is not "Andrew"); categories are compared as whole strings.
STEMMED_FIELDS = frozenset({Field.TEXT, Field.TITLE, Field.ABSTRACT})


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a phrase or a prefix, looked up in one field.

    ``tokens`` are normalized but unstemmed, so the term can be printed back exactly as understood.
    For ``Field.CATEGORY`` there is a single token: the whole normalized category string.

    - ``stemmed``: compare Porter stems (bare words in text fields) rather than exact tokens.
    - ``prefix``: the last token matches any token that starts with it.

    Several tokens mean consecutive tokens in the same field segment (one author's name, the
    title, the abstract, or one keyword).
    """

    field: Field
    tokens: tuple[str, ...]
    stemmed: bool = False
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    """Matches when ``child`` does not."""

    child: Node


@dataclass(frozen=True, slots=True)
class And:
    """Matches when every child matches (two or more children)."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Matches when any child matches (two or more children)."""

    children: tuple[Node, ...]


Node = Term | Not | And | Or


def matches_empty_paper(node: Node) -> bool:
    """Return whether ``node`` matches a paper with no text, authors or categories at all.

    No term occurs in an empty paper, so this follows from the tree alone: such a query has no
    positive term to anchor it (``-survey``, ``NOT (a OR b)``, ``llm OR -survey``).
    """
    match node:
        case Term():
            return False
        case Not(child=child):
            return not matches_empty_paper(child)
        case And(children=children):
            return all(matches_empty_paper(child) for child in children)
        case Or(children=children):
            return any(matches_empty_paper(child) for child in children)


def describe(node: Node) -> str:
    """Render a syntax tree as query text that parses back to the same meaning.

    Every term carries its own field, AND is written out, and groups are parenthesised wherever
    precedence alone would decide (AND inside OR is bracketed too, for readers).
    """
    match node:
        case Term():
            return _describe_term(node)
        case Not(child=And() | Or() as child):
            return f"NOT ({describe(child)})"
        case Not(child=child):
            return f"NOT {describe(child)}"
        case And(children=children):
            return " AND ".join(f"({describe(c)})" if isinstance(c, Or) else describe(c) for c in children)
        case Or(children=children):
            return " OR ".join(f"({describe(c)})" if isinstance(c, And) else describe(c) for c in children)


_FIELD_LABELS = {
    Field.TEXT: "",
    Field.TITLE: "title:",
    Field.ABSTRACT: "abstract:",
    Field.AUTHOR: "author:",
    Field.CATEGORY: "category:",
}


def _describe_term(term: Term) -> str:
    label = _FIELD_LABELS[term.field]
    if term.field is Field.CATEGORY:
        # Category values are letters, digits, dots and dashes, so they never need quotes.
        return f"{label}{term.tokens[0]}{'*' if term.prefix else ''}"
    if term.prefix:
        return f"{label}{'-'.join(term.tokens)}*"
    if term.stemmed:
        return f"{label}{'-'.join(term.tokens)}"
    if term.field is Field.AUTHOR and len(term.tokens) == 1:
        return f"{label}{term.tokens[0]}"
    return f'{label}"{" ".join(term.tokens)}"'
