"""A query's shape: its syntax tree with every term replaced by one placeholder leaf.

``a -b`` and ``rag -survey`` share a shape, so the subscription index evaluates all the queries of a shape together.
Shapes are nodes, so they are hashable (they key the index's groups) and walked with the same match statements.
"""

from __future__ import annotations

import functools
from typing import TypeAlias

from bot.matching.nodes import And, Field, Node, Not, Or, Term

Shape: TypeAlias = Node
LEAF = Term(Field.TEXT, ())


def shape_of(root: Node) -> tuple[Shape, tuple[Term, ...]]:
    """A query's shape and its terms in shape order (see :func:`_shape`)."""
    shape, terms = _shape(root)
    return shape, tuple(terms)


def _shape(node: Node) -> tuple[Shape, list[Term]]:
    """A query's shape and its terms in shape order. AND/OR children are put in a canonical order,
    so ``a -b`` and ``-b a`` share a group."""
    match node:
        case Term():
            return LEAF, [node]
        case Not(child=child):
            shape, terms = _shape(child)
            return Not(shape), terms
        case And(children=children):
            shapes, terms = _canonical(children)
            return And(shapes), terms
        case Or(children=children):
            shapes, terms = _canonical(children)
            return Or(shapes), terms


def _canonical(children: tuple[Node, ...]) -> tuple[tuple[Shape, ...], list[Term]]:
    """The children's shapes in a canonical order (any fixed order does), and their terms in that order."""
    parts = sorted(map(_shape, children), key=lambda part: _order_key(part[0]))
    return tuple(shape for shape, _ in parts), [term for _, terms in parts for term in terms]


@functools.lru_cache(maxsize=1024)
def _order_key(shape: Shape) -> str:
    """A shape's sort key. Cached: a dataclass repr is slow, and a whole index holds only a few
    dozen distinct shapes, so loading 100k queries would otherwise spend most of its time here."""
    return repr(shape)
