"""Full-text search that agrees with the matcher: what SQLite indexes, and the MATCH expressions for a query.

Raw user text is not valid FTS5 (``long-context`` reads as a column filter, ``cs.CL`` is a syntax error),
and FTS5's own tokenizer and stemmer disagree with ours at the edges (``Eﬃcient``, ``ＬＬＭ``, ``ß``, Indic
marks, the Porter variants). So SQLite never tokenizes for us: the matcher's own normalization
(:mod:`bot.matching.text`) runs on both sides. Papers are indexed as space-joined tokens and stems computed by
the SQL functions below (registered on every connection, called by the papers' triggers); queries reach FTS5
as quoted phrases of the same tokens or stems, so a text query's hits are exactly its matches
(:func:`exact_fts_expression`). The table's ``ascii`` tokenizer splits only on ASCII non-alphanumerics —
exactly the spaces we put — and folds only ASCII case, which our casefolded text no longer has, so FTS5 sees
our tokens unchanged. A term found by the matcher is therefore always found by FTS5: the candidates are a
superset of the matches (``tests/store/test_fts_agreement.py`` checks it with generated papers and queries).
What FTS5 cannot express (a negation on its own) is widened, never narrowed.

The table is contentless (it keeps no copy of the text), so a row is deleted by repeating the values it was
indexed with. Those values depend on this code, the stemmer and Python's Unicode tables, so
:data:`FOLD_VERSION` names them and the store rebuilds the search tables at start when it changes.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
from importlib.metadata import version

from bot.matching.document import normalize_category
from bot.matching.matcher import term_words
from bot.matching.nodes import And, Field, Node, Not, Or, Term
from bot.matching.text import stem_all, tokenize

FOLD_VERSION = f"1;snowballstemmer {version('snowballstemmer')};unicode {unicodedata.unidata_version}"

_WORD_COLUMNS = {
    Field.TEXT: "{title abstract ai_keywords}",
    Field.TITLE: "{title}",
    Field.ABSTRACT: "{abstract}",
    Field.AUTHOR: "{authors}",
}
_STEM_COLUMNS = {
    Field.TEXT: "{title_stems abstract_stems keyword_stems}",
    Field.TITLE: "{title_stems}",
    Field.ABSTRACT: "{abstract_stems}",
}
# bm25 weights in the table's column order: title, abstract, ai_keywords, authors, then the three stem columns.
BM25_WEIGHTS = "8.0, 2.0, 1.0, 3.0, 8.0, 2.0, 1.0"

# Put between the items of a list column (keywords, authors) so a phrase never spans two, as in the matcher.
# The ascii tokenizer reads it as a token; U+0378 is unassigned, never a letter or digit, so no query holds it.
ITEM_BREAK = " \u0378 "


def _items(value: str) -> list[str]:
    """The strings of a JSON list column (authors, ai_keywords); a non-list value is one string."""
    try:
        items = json.loads(value)
    except ValueError:
        return [value]
    return [str(item) for item in items] if isinstance(items, list) else [str(items)]


def index_words(text: str | None) -> str:
    """A text column as the matcher's tokens, space-joined (what a phrase or a prefix is looked up in)."""
    return " ".join(tokenize(text or ""))


def index_stems(text: str | None) -> str:
    """A text column as the matcher's Porter stems, space-joined (what a bare word is looked up in)."""
    return " ".join(stem_all(tokenize(text or "")))


def index_list_words(value: str | None) -> str:
    """A JSON list column's tokens, space-joined, items apart."""
    return ITEM_BREAK.join(" ".join(tokenize(item)) for item in _items(value or "[]"))


def index_list_stems(value: str | None) -> str:
    """A JSON list column's stems, space-joined, items apart."""
    return ITEM_BREAK.join(" ".join(stem_all(tokenize(item))) for item in _items(value or "[]"))


def index_category(value: str | None) -> str:
    """A category in the matcher's comparison form (``cs.CL`` → ``cs.cl``)."""
    return normalize_category(value or "")


SQL_FUNCTIONS: dict[str, Callable[[str | None], str]] = {
    "paperbot_words": index_words,
    "paperbot_stems": index_stems,
    "paperbot_list_words": index_list_words,
    "paperbot_list_stems": index_list_stems,
    "paperbot_category": index_category,
}
"""The functions the search triggers call, by SQL name; every SQLite connection registers them (deterministic)."""


def prefix_terms(node: Node) -> list[Term]:
    """The prefix terms (``word*``) of a query, which cost the full-text index the most."""
    match node:
        case Term():
            return [node] if node.prefix and node.field is not Field.CATEGORY else []
        case Not(child=child):
            return prefix_terms(child)
        case And(children=children) | Or(children=children):
            return [term for child in children for term in prefix_terms(child)]


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
            # The constrainable children; negations are left to the exact matcher (see exact_fts_expression
            # for when FTS5 can apply them itself).
            constrained = [part for child in children if (part := fts_expression(child, term, or_, and_)) is not None]
            return and_.join(f"({part})" for part in constrained) if constrained else None


def exact_fts_expression(node: Node) -> str | None:
    """An FTS5 expression matching exactly the papers ``node`` matches, so its hits need no re-check; None
    when there is none (a category term, or a negation FTS5's binary NOT cannot express).

    Every term is exact in the index: the same tokens and stems, each field's items (keywords, authors)
    kept apart by :data:`ITEM_BREAK`, title and abstract in columns of their own."""
    match node:
        case Term():
            return _term(node)
        case Not():
            return None
        case Or(children=children):
            parts = [exact_fts_expression(child) for child in children]
            return None if any(part is None for part in parts) else " OR ".join(f"({part})" for part in parts)
        case And(children=children):
            positive = [exact_fts_expression(c) for c in children if not isinstance(c, Not)]
            negative = [exact_fts_expression(c.child) for c in children if isinstance(c, Not)]
            if not positive or None in positive or None in negative:
                return None
            both = " AND ".join(f"({part})" for part in positive)
            return f"({both}) NOT ({' OR '.join(f'({part})' for part in negative)})" if negative else both


def _term(term: Term) -> str | None:
    words = term_words(term)
    columns = (_STEM_COLUMNS if term.stemmed else _WORD_COLUMNS).get(term.field)
    if columns is None or not words or not all(words):
        return None  # categories have their own table; an empty word could not be quoted
    phrase = '"' + " ".join(words) + '"' + (" *" if term.prefix else "")
    return f"{columns} : {phrase}"


def category_terms(node: Node) -> list[Term] | None:
    """Category terms at least one of which every match of ``node`` has (an index lookup's worth of candidates);
    None when the query does not pin its matches to categories."""
    match node:
        case Term(field=Field.CATEGORY):
            return [node]
        case Term() | Not():
            return None
        case Or(children=children):
            parts = [category_terms(child) for child in children]
            return None if any(part is None for part in parts) else [t for part in parts if part for t in part]
        case And(children=children):
            found = [part for child in children if (part := category_terms(child)) is not None]
            # The child with the fewest terms, exact ones first: the narrowest lookup.
            return min(found, key=lambda terms: (len(terms), sum(t.prefix for t in terms))) if found else None


def only_categories(node: Node) -> bool:
    """Whether the category index's hits are exactly ``node``'s matches (categories, OR-ed)."""
    match node:
        case Term(field=Field.CATEGORY):
            return True
        case Or(children=children):
            return all(only_categories(child) for child in children)
        case _:
            return False


def categories_or_text(root: Node) -> tuple[Node, Node] | None:
    """An OR of category-pinned parts and other parts, as (the category-pinned OR-ed, the rest OR-ed): each
    part's matches are matches of the whole, so each can come from its own index; None for any other query."""
    if not isinstance(root, Or):
        return None
    pinned = [child for child in root.children if category_terms(child) is not None]
    rest = [child for child in root.children if category_terms(child) is None]
    if not pinned or not rest:
        return None
    return _any_of(pinned), _any_of(rest)


def _any_of(parts: Sequence[Node]) -> Node:
    return parts[0] if len(parts) == 1 else Or(tuple(parts))
