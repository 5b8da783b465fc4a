"""The query syntax tree: what a parsed query means, independent of how it was typed."""

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
