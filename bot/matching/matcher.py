"""Evaluating a query against one prepared paper.

A query is compiled once, at parse time, into nested closures; evaluating it is then a handful
of set lookups with no tree walking or dispatch on node types.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.matching.document import VIEW_INDEX, FieldView, PaperDocument, pair_key
from bot.matching.nodes import And, Field, Node, Not, Or, Term
from bot.matching.text import stem

Predicate = Callable[[PaperDocument], bool]


def term_words(term: Term) -> tuple[str, ...]:
    """The strings a term compares against a field: stems for stemmed terms, else the tokens."""
    if term.stemmed:
        return tuple(stem(token) for token in term.tokens)
    return term.tokens


def phrase_in(sequence: list[str], words: tuple[str, ...], prefix: bool) -> bool:
    """Return whether ``words`` occur consecutively in ``sequence``.

    With ``prefix``, the last word only has to start the token at its position. ``list.index``
    does the scanning in C, which beats building a position index for every paper.
    """
    first = words[0]
    size = len(words)
    exact = list(words[:-1]) if prefix else list(words)
    exact_size = len(exact)
    last = words[-1]
    start = -1
    try:
        while True:
            start = sequence.index(first, start + 1)
            if sequence[start : start + exact_size] != exact:
                continue
            if not prefix:
                return True
            end = start + size - 1
            if end < len(sequence) and sequence[end].startswith(last):
                return True
    except ValueError:
        return False


def _view_predicate(index: int, check: Callable[[FieldView], bool]) -> Predicate:
    def predicate(doc: PaperDocument) -> bool:
        return check(doc.views[index])

    return predicate


def compile_term(term: Term) -> Predicate:
    """Compile one term into a predicate over documents."""
    index = VIEW_INDEX[term.field]
    words = term_words(term)
    if term.field is Field.CATEGORY:
        (category,) = words
        if term.prefix:
            return lambda doc: any(c.startswith(category) for c in doc.views[index].tokens)
        return lambda doc: category in doc.views[index].token_set
    if len(words) == 1:
        (word,) = words
        if term.prefix:
            return _view_predicate(index, lambda view: view.has_prefix(word))
        if term.stemmed:
            return lambda doc: word in doc.views[index].stem_set
        return lambda doc: word in doc.views[index].token_set
    prefix = term.prefix
    stemmed = term.stemmed
    whole = words[:-1] if prefix else words
    pairs = frozenset(map(pair_key, whole, whole[1:]))
    if not prefix and len(words) == 2:
        # The most common phrase: one lookup in the paper's (lazily built) set of adjacent pairs.
        (pair,) = pairs
        return _view_predicate(index, lambda view: pair in view.pairs(stemmed))
    # Cheap rejections before scanning: every whole word, and every adjacent pair, must occur.
    required = frozenset(whole)

    def check(view: FieldView) -> bool:
        values = view.stem_set if stemmed else view.token_set
        return (
            required <= values
            and (not pairs or pairs <= view.pairs(stemmed))
            and phrase_in(view.stems if stemmed else view.tokens, words, prefix)
        )

    return _view_predicate(index, check)


def _all(predicates: tuple[Predicate, ...]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda doc: first(doc) and second(doc)

    def predicate(doc: PaperDocument) -> bool:
        # A plain loop: all() over a generator costs a frame per call on this hot path.
        for child in predicates:  # noqa: SIM110
            if not child(doc):
                return False
        return True

    return predicate


def _any(predicates: tuple[Predicate, ...]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda doc: first(doc) or second(doc)

    def predicate(doc: PaperDocument) -> bool:
        for child in predicates:  # noqa: SIM110 (see _all)
            if child(doc):
                return True
        return False

    return predicate


def compile_node(node: Node) -> Predicate:
    """Compile a syntax tree into a predicate over documents."""
    match node:
        case Term():
            return compile_term(node)
        case Not(child=child):
            compiled = compile_node(child)
            return lambda doc: not compiled(doc)
        case And(children=children):
            return _all(tuple(map(compile_node, children)))
        case Or(children=children):
            return _any(tuple(map(compile_node, children)))
