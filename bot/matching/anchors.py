"""Necessary keys ("anchors") of a query, for the subscription index.

A query's anchor set has the property that any paper it matches contains at least one of the
keys, so the index only evaluates a query for papers that share a key with it (the Lucene
Monitor / percolator approach). Keys are ``(family, value)`` pairs, and each paper emits its own
keys per family (see :func:`document_keys`):

- ``TEXT``: Porter stems of title + abstract + keywords. Title and abstract terms use these too
  (a word in the title is a word of the text), and so do exact words: a paper containing "llms"
  contains the stem "llm".
- ``TEXT_PREFIX`` / ``AUTHOR_PREFIX`` / ``CATEGORY_PREFIX``: the first 2, 3, 4 and 5 characters
  of each token (category string); a prefix query is keyed by its first 5 characters, or all of
  them if shorter. (Three-letter keys alone made most prefix queries candidates for every paper.)
- ``TEXT_PAIR``: adjacent stem pairs of the text, for phrases and hyphenated words: far more
  selective than either word when both are common ("large language", "neural network").
- ``AUTHOR``: author name tokens; ``CATEGORY``: whole category strings.
"""

from __future__ import annotations

from collections.abc import Set
from enum import IntEnum
from itertools import pairwise

from bot.matching.document import VIEW_INDEX, PaperDocument, pair_key
from bot.matching.nodes import And, Field, Node, Not, Term
from bot.matching.text import stem


class Family(IntEnum):
    TEXT = 0
    TEXT_PREFIX = 1
    AUTHOR = 2
    AUTHOR_PREFIX = 3
    CATEGORY = 4
    CATEGORY_PREFIX = 5
    TEXT_PAIR = 6


Key = tuple[Family, str]

# Which document view each family's values come from, and whether they are prefixes of it.
FAMILY_SOURCES: dict[Family, tuple[int, bool]] = {
    Family.TEXT: (VIEW_INDEX[Field.TEXT], False),
    Family.TEXT_PREFIX: (VIEW_INDEX[Field.TEXT], True),
    Family.AUTHOR: (VIEW_INDEX[Field.AUTHOR], False),
    Family.AUTHOR_PREFIX: (VIEW_INDEX[Field.AUTHOR], True),
    Family.CATEGORY: (VIEW_INDEX[Field.CATEGORY], False),
    Family.CATEGORY_PREFIX: (VIEW_INDEX[Field.CATEGORY], True),
    Family.TEXT_PAIR: (VIEW_INDEX[Field.TEXT], False),
}
_PREFIX_FAMILIES = {Field.AUTHOR: Family.AUTHOR_PREFIX, Field.CATEGORY: Family.CATEGORY_PREFIX}

PREFIX_KEY_LENGTHS = (2, 3, 4, 5)

# Stems found in more than ~30% of a sample of ML abstracts (the seed trending page). Anchoring
# an AND on one of these would make the query a candidate for most papers, so they are costed
# as nearly useless; the other parts of the AND are preferred.
_COMMON_STEMS_TEXT = """
    a of in the and to we model for that on thi languag with i our task from by propos base larg an
    train us method perform ar can learn result be it at gener which have these predict inform llm
    howev demonstr dataset specif or into data their compar text effect exist ha work prompt both
    state art includ show paper approach improv is as are this
"""
COMMON_STEMS = frozenset(_COMMON_STEMS_TEXT.split())


def prefix_key(prefix: str) -> str:
    """The key under which a prefix query is filed (its first 5 characters, or all if fewer)."""
    return prefix[: PREFIX_KEY_LENGTHS[-1]]


def token_prefixes(tokens: Set[str]) -> set[str]:
    """The prefix keys a paper emits for its tokens: each token's first 2, 3, 4 and 5 characters.

    Every query prefix key (2 to 5 characters) that a token starts with is among them.
    """
    keys: set[str] = set()
    for length in PREFIX_KEY_LENGTHS:
        keys.update({token[:length] for token in tokens})
    return keys


def document_keys(doc: PaperDocument, family: Family) -> Set[str]:
    """The values one paper emits for one key family."""
    view, prefixes = FAMILY_SOURCES[family]
    if family is Family.TEXT:
        return doc.views[view].stem_set
    if family is Family.TEXT_PAIR:
        return doc.views[view].pairs(True)
    tokens = doc.views[view].token_set
    return token_prefixes(tokens) if prefixes else tokens


def _cost(key: Key) -> float:
    """A rough guess of the share of papers that carry ``key`` (lower is more selective).

    Without document statistics, longer words are assumed rarer, with known-common stems
    pushed to the back; this only affects speed, never results.
    """
    family, value = key
    if family is Family.TEXT:
        return 0.6 if value in COMMON_STEMS else min(0.5, 2.0 / len(value) ** 2)
    if family is Family.AUTHOR:
        return 0.05 if len(value) <= 3 else 0.01
    if family is Family.CATEGORY:
        return 0.3
    if family is Family.CATEGORY_PREFIX:
        return 0.8
    if family is Family.TEXT_PAIR:
        # Two adjacent words are rarer than the rarer of the two alone, more so when the other
        # word is rare too.
        first, second = sorted(_cost((Family.TEXT, word)) for word in value.split(" "))
        return first * second**0.5
    return 0.5 if len(value) <= 3 else 0.2


Anchor = tuple[frozenset[Key], float]


def _term_anchor(term: Term) -> Anchor | None:
    """The single most selective key that every match of ``term`` carries."""
    options: list[Key] = []
    whole = term.tokens[:-1] if term.prefix else term.tokens
    if term.field is Field.CATEGORY:
        options.extend((Family.CATEGORY, value) for value in whole)
    elif term.field is Field.AUTHOR:
        options.extend((Family.AUTHOR, token) for token in whole)
    else:
        stems = [stem(token) for token in whole]
        options.extend((Family.TEXT, word) for word in stems)
        options.extend((Family.TEXT_PAIR, pair_key(*pair)) for pair in pairwise(stems))
    if term.prefix and len(term.tokens[-1]) >= PREFIX_KEY_LENGTHS[0]:
        family = _PREFIX_FAMILIES.get(term.field, Family.TEXT_PREFIX)
        options.append((family, prefix_key(term.tokens[-1])))
    if not options:
        return None
    best = min(options, key=_cost)
    return frozenset({best}), _cost(best)


def _anchor(node: Node, negated: bool) -> Anchor | None:
    """Anchor of ``node`` (or of ``NOT node``), pushing negations down by De Morgan's laws."""
    if isinstance(node, Term):
        # A paper that lacks a term carries no particular key.
        return None if negated else _term_anchor(node)
    if isinstance(node, Not):
        return _anchor(node.child, not negated)
    children = [_anchor(child, negated) for child in node.children]
    if isinstance(node, And) != negated:
        # Conjunction: every part must match, so any one part's keys are necessary; take the
        # most selective one.
        anchored = [child for child in children if child is not None]
        if not anchored:
            return None
        return min(anchored, key=lambda anchor: (anchor[1], len(anchor[0])))
    # Disjunction: any part may be the one that matches, so all their keys are needed, and a
    # part without keys leaves the whole unanchored.
    keys: set[Key] = set()
    cost = 0.0
    for child in children:
        if child is None:
            return None
        keys |= child[0]
        cost += child[1]
    return frozenset(keys), min(cost, 1.0)


def anchor_keys(node: Node) -> frozenset[Key] | None:
    """Keys of which every paper matching ``node`` carries at least one, or None if there are none.

    None only happens for queries that match a paper with no text, which ``parse_query`` rejects;
    the index still handles it by evaluating such a query for every paper.
    """
    anchor = _anchor(node, negated=False)
    return None if anchor is None else anchor[0]


def exact_key(node: Node) -> Key | None:
    """The key whose presence in a paper is exactly equivalent to ``node`` matching, if there is one.

    True for single text words and two-word text phrases of stems (the index keys are the
    paper's stems and stem pairs over title + abstract + keywords, as the matcher compares),
    single author tokens and whole categories.
    """
    if not isinstance(node, Term) or node.prefix:
        return None
    if node.field is Field.TEXT and node.stemmed and len(node.tokens) <= 2:
        stems = [stem(token) for token in node.tokens]
        if len(stems) == 1:
            return Family.TEXT, stems[0]
        return Family.TEXT_PAIR, pair_key(*stems)
    if node.field in (Field.AUTHOR, Field.CATEGORY) and len(node.tokens) == 1:
        family = Family.AUTHOR if node.field is Field.AUTHOR else Family.CATEGORY
        return family, node.tokens[0]
    return None
