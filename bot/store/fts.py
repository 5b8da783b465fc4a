"""Translate a parsed query into an SQLite FTS5 MATCH expression that selects a superset of its matches.

Raw user text is not valid FTS5 (``long-context`` reads as a column filter, ``cs.CL`` is a syntax error),
so queries are parsed by :mod:`bot.matching` and only normalized tokens — letters and digits — reach FTS5,
always quoted. What FTS5 cannot express exactly (categories, negations, unstemmed phrases) is widened,
never narrowed: the exact matcher filters the candidates afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.matching.nodes import And, Field, Node, Not, Or, Term

_COLUMNS = {
    Field.TEXT: "{title abstract ai_keywords}",
    Field.TITLE: "{title}",
    Field.ABSTRACT: "{abstract}",
    Field.AUTHOR: "{authors}",
}


def fts_expression(
    node: Node, term: Callable[[Term], str | None] | None = None, or_: str = " OR ", and_: str = " AND "
) -> str | None:
    """An FTS5 expression matching at least every paper ``node`` matches; None when unconstrained.

    Another full-text engine's query (PostgreSQL's tsquery) is built by the same walk with its own ``term``
    and operators."""
    term = term or _term
    match node:
        case Term():
            return term(node)
        case Not():
            return None  # FTS5 has no unary NOT; the exact matcher applies it
        case Or(children=children):
            parts = [fts_expression(child, term, or_, and_) for child in children]
            if any(part is None for part in parts):
                return None
            return or_.join(f"({part})" for part in parts)
        case And(children=children):
            # The constrainable children. Negations are left to the exact matcher: FTS5's tokenizer and ours
            # could disagree on an edge case, and a NOT here would then drop a paper the query does match.
            constrained = [part for child in children if (part := fts_expression(child, term, or_, and_)) is not None]
            return and_.join(f"({part})" for part in constrained) if constrained else None


def _term(term: Term) -> str | None:
    columns = _COLUMNS.get(term.field)
    if columns is None or not term.tokens:
        return None  # categories are not in the full-text index
    phrase = '"' + " ".join(term.tokens) + '"' + (" *" if term.prefix else "")
    return f"{columns} : {phrase}"
