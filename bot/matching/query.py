"""The subscription query language: parsing and validation into a compiled :class:`Query`.

Grammar (operators are case-insensitive, so a lowercase ``or`` is an operator too; put a word in
double quotes to search for it literally)::

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary (["AND"] unary)*          -- words side by side are AND-ed
    unary    := ("NOT" | "-") unary | primary
    primary  := field ":" operand | WORD | "\"" PHRASE "\"" | "(" or_expr ")"
    operand  := "-" operand | primary           -- right after a field, AND/OR/NOT are plain words

Precedence is NOT > AND > OR. A field applies to the next word, phrase, prefix or group
(``ti:(llm OR rag)``); an inner field wins over an outer one. A bare word ending in ``*`` is a
prefix (``transform*``, at least two letters or digits before the star).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from bot.matching.document import PaperDocument
from bot.matching.errors import QueryError
from bot.matching.lexer import Kind, Lexeme, lex
from bot.matching.matcher import Predicate, compile_node
from bot.matching.nodes import STEMMED_FIELDS, And, Field, Node, Not, Or, Term, describe, matches_empty_paper
from bot.matching.shapes import Shape, shape_of
from bot.matching.text import has_token, normalize, split_tokens

MAX_QUERY_LENGTH = 300
# Deep nesting is never useful in a subscription and would only risk Python's recursion limit.
MAX_NESTING = 32
MIN_PREFIX_LENGTH = 2
# Parsed queries remembered by text (a few MB: a Query holds its tree, and its matcher once used).
PARSED_REMEMBERED = 4096

FIELD_NAMES: dict[str, Field] = {
    "title": Field.TITLE,
    "ti": Field.TITLE,
    "abstract": Field.ABSTRACT,
    "abs": Field.ABSTRACT,
    "author": Field.AUTHOR,
    "au": Field.AUTHOR,
    "category": Field.CATEGORY,
    "cat": Field.CATEGORY,
}
_FIELD_HELP = "title: (ti:), abstract: (abs:), author: (au:) or category: (cat:)"

_OPERATORS = frozenset({"and", "or", "not"})
_CATEGORY_RE = re.compile(r"[^\W_][\w.\-]*")


@dataclass(frozen=True)
class Query:
    """A parsed query: the text as typed, its syntax tree, and (built on first use) the compiled matcher and
    the shape the subscription index files it under."""

    text: str
    root: Node

    @functools.cached_property
    def predicate(self) -> Predicate:
        """The compiled matcher, built once, so that matching a paper never walks the tree. Built on first use:
        the subscription index, which a restarted bot fills with every stored query, never needs it."""
        return compile_node(self.root)

    @functools.cached_property
    def shape(self) -> tuple[Shape, tuple[Term, ...]]:
        """The query's shape and its terms in shape order (:func:`bot.matching.shapes.shape_of`)."""
        return shape_of(self.root)

    def describe(self) -> str:
        """Return the query as understood: normalized, fully explicit, and parseable again."""
        return describe(self.root)


def parse_query(text: str) -> Query:
    """Parse a user's query. Raises QueryError (with a friendly message and position) if it is unusable.

    The most recently parsed texts are remembered (a query is immutable, so one can serve every subscription with
    that text): subscriptions often share a text, and a restarted bot parses every stored one.
    """
    return _parse_remembered(text)


@functools.lru_cache(maxsize=PARSED_REMEMBERED)
def _parse_remembered(text: str) -> Query:
    if not text.strip():
        raise QueryError("The query is empty: type what to look for, e.g. diffusion transformer", None, text)
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"The query is too long ({len(text)} characters; at most {MAX_QUERY_LENGTH})",
            MAX_QUERY_LENGTH,
            text,
        )
    root = _Parser(text).parse()
    if matches_empty_paper(root):
        raise QueryError(
            "The query needs at least one positive term: as written it would match papers that contain "
            "nothing at all. Add something to look for, e.g. llm -survey instead of -survey",
            None,
            text,
        )
    return Query(text, root)


def matches(query: Query, doc: PaperDocument) -> bool:
    """Return whether ``query`` matches the prepared paper ``doc``."""
    return query.predicate(doc)


class _Parser:
    """A recursive-descent parser over the lexemes of one query."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lexemes = lex(text)
        self.index = 0

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, position, self.text)

    def peek(self) -> Lexeme:
        return self.lexemes[self.index]

    def advance(self) -> Lexeme:
        lexeme = self.lexemes[self.index]
        if lexeme.kind is not Kind.END:
            self.index += 1
        return lexeme

    @staticmethod
    def operator(lexeme: Lexeme) -> str | None:
        """``"AND"``/``"OR"``/``"NOT"`` if the lexeme is that operator (in any case), else None."""
        if lexeme.kind is Kind.WORD and lexeme.text.casefold() in _OPERATORS:
            return lexeme.text.upper()
        return None

    def parse(self) -> Node:
        node = self.parse_or(Field.TEXT, 0)
        stray = self.peek()
        if stray.kind is Kind.RPAREN:
            raise self.error("This ')' has no matching '('", stray.start)
        return node

    def expect_operand(self, operator: Lexeme) -> None:
        """Check that something to search for follows ``operator`` (AND, OR, NOT or -)."""
        following = self.peek()
        name = operator.text if operator.kind is Kind.MINUS else operator.text.upper()
        if following.kind in (Kind.END, Kind.RPAREN):
            raise self.error(f"'{name}' needs a search term after it", operator.start)
        if self.operator(following) in ("AND", "OR"):
            raise self.error(
                f"Two operators in a row ('{name} {following.text.upper()}'): put a search term between them",
                following.start,
            )

    def parse_or(self, within: Field, depth: int) -> Node:
        children = [self.parse_and(within, depth)]
        while self.operator(self.peek()) == "OR":
            self.expect_operand(self.advance())
            children.append(self.parse_and(within, depth))
        return _combine(Or, children)

    def parse_and(self, within: Field, depth: int) -> Node:
        children = [self.parse_unary(within, depth, literal=False)]
        while True:
            lexeme = self.peek()
            operator = self.operator(lexeme)
            if operator == "OR" or lexeme.kind in (Kind.END, Kind.RPAREN):
                return _combine(And, children)
            if operator == "AND":
                self.expect_operand(self.advance())
            children.append(self.parse_unary(within, depth, literal=False))

    def parse_unary(self, within: Field, depth: int, literal: bool) -> Node:
        """Parse negations (iteratively: ``------x`` must not recurse) and then one primary.

        ``literal`` is set right after a field, where AND/OR/NOT can only be words.
        """
        negated = False
        while True:
            lexeme = self.peek()
            if lexeme.kind is Kind.MINUS or (not literal and self.operator(lexeme) == "NOT"):
                self.advance()
                if not literal:
                    self.expect_operand(lexeme)
                negated = not negated
            else:
                break
        node = self.parse_primary(within, depth, literal)
        return _negate(node) if negated else node

    def parse_primary(self, within: Field, depth: int, literal: bool) -> Node:
        lexeme = self.advance()
        if lexeme.kind is Kind.FIELD:
            return self.parse_field(lexeme, depth)
        if lexeme.kind is Kind.WORD:
            operator = None if literal else self.operator(lexeme)
            if operator is not None:
                raise self.error(f"'{operator}' needs a search term before it", lexeme.start)
            return self.word_term(lexeme, within)
        if lexeme.kind is Kind.PHRASE:
            return self.phrase_term(lexeme, within)
        if lexeme.kind is Kind.LPAREN:
            return self.parse_group(lexeme, within, depth)
        if lexeme.kind is Kind.RPAREN:
            raise self.error("This ')' has no matching '('", lexeme.start)
        raise self.error("The query ends where a search term was expected", lexeme.start)

    def parse_field(self, lexeme: Lexeme, depth: int) -> Node:
        name = lexeme.text
        target = FIELD_NAMES.get(name.casefold())
        if target is None:
            raise self.error(
                f"Unknown field '{name}:'; the fields are {_FIELD_HELP}. "
                f'To search for the text itself, put it in quotes: "{name}:…"',
                lexeme.start,
            )
        following = self.peek()
        if following.start != lexeme.end or following.kind in (Kind.END, Kind.RPAREN):
            raise self.error(
                f"'{name}:' needs a word, phrase or group right after it, with no space "
                f'(e.g. {name}:llm, {name}:"long context", {name}:(rag OR retrieval))',
                lexeme.start,
            )
        return self.parse_unary(target, depth, literal=True)

    def parse_group(self, opening: Lexeme, within: Field, depth: int) -> Node:
        if depth >= MAX_NESTING:
            raise self.error(f"Parentheses are nested too deeply (at most {MAX_NESTING} levels)", opening.start)
        if self.peek().kind is Kind.RPAREN:
            raise self.error("Empty parentheses '()': put search terms inside or remove them", opening.start)
        node = self.parse_or(within, depth + 1)
        if self.peek().kind is not Kind.RPAREN:
            raise self.error("This '(' is never closed: add a matching ')'", opening.start)
        self.advance()
        return node

    def word_term(self, lexeme: Lexeme, within: Field) -> Term:
        """A bare word: stemmed, a prefix (``word*``), or an adjacency phrase (``long-context``)."""
        normalized = normalize(lexeme.text)
        # The star is looked for after normalization so that a compatibility form of '*' that
        # NFKC turns into one behaves the same when the description is parsed again.
        prefix = normalized.endswith("*")
        body = normalized.rstrip("*")
        if within is Field.CATEGORY:
            return self.category_term(lexeme, body.strip(), prefix)
        tokens = split_tokens(body)
        if not tokens:
            if prefix and self.follows_phrase(lexeme):
                raise self.error(
                    "A '*' cannot follow a quoted phrase: a prefix ends a single word. Write the whole phrase "
                    '(e.g. "long context"), or hyphenate: long-cont* finds long followed by a word starting with cont',
                    lexeme.start,
                )
            if prefix and not has_token(normalized):
                raise self.error("A '*' must follow at least two letters or digits (e.g. transform*)", lexeme.start)
            raise self.error(f"'{lexeme.text}' has no letters or digits to search for", lexeme.start)
        if prefix:
            if len(tokens[-1]) < MIN_PREFIX_LENGTH:
                raise self.error(
                    f"The prefix '{lexeme.text}' is too short: use at least {MIN_PREFIX_LENGTH} letters "
                    "or digits before '*'",
                    lexeme.start,
                )
            return Term(within, tuple(tokens), prefix=True)
        # A word like "or." is not the operator, but printing it back bare would make it one:
        # treat it as the exact word, which is how describe() will quote it.
        is_operator_word = len(tokens) == 1 and tokens[0] in _OPERATORS
        return Term(within, tuple(tokens), stemmed=within in STEMMED_FIELDS and not is_operator_word)

    def follows_phrase(self, lexeme: Lexeme) -> bool:
        """Whether ``lexeme`` (just consumed) is glued to the end of a quoted phrase, as in ``"long cont"*``."""
        before = self.lexemes[self.index - 2] if self.index >= 2 else None
        return before is not None and before.kind is Kind.PHRASE and before.end == lexeme.start

    def phrase_term(self, lexeme: Lexeme, within: Field) -> Term:
        """A quoted phrase: the exact, unstemmed token sequence (a single token is an exact word)."""
        normalized = normalize(lexeme.text)
        if within is Field.CATEGORY:
            return self.category_term(lexeme, normalized.strip(), prefix=False)
        tokens = split_tokens(normalized)
        if not tokens:
            raise self.error(f'The phrase "{lexeme.text}" has no letters or digits to search for', lexeme.start)
        return Term(within, tuple(tokens))

    def category_term(self, lexeme: Lexeme, value: str, prefix: bool) -> Term:
        """A whole category string (``cs.CL``), or a prefix of one (``cs.*``)."""
        if prefix and not value:
            raise self.error("A '*' must follow at least two characters (e.g. cat:cs.*)", lexeme.start)
        # Category names are letters, digits, dots and dashes (cs.CL, q-bio.NC, hep-th). Holding
        # values to that shape catches typos like "cs.CL," and keeps every value printable bare.
        if not _CATEGORY_RE.fullmatch(value):
            raise self.error(
                f"'{lexeme.text}' is not a category name: categories look like cs.CL, q-bio.NC or hep-th",
                lexeme.start,
            )
        if prefix and len(value) < MIN_PREFIX_LENGTH:
            raise self.error(
                f"The category prefix '{lexeme.text}' is too short: use at least {MIN_PREFIX_LENGTH} "
                "characters before '*' (e.g. cat:cs.*)",
                lexeme.start,
            )
        # The value went through the same normalization as the papers' categories.
        return Term(Field.CATEGORY, (value,), prefix=prefix)


def _combine(kind: type[And] | type[Or], children: list[Node]) -> Node:
    """Build an AND/OR node, splicing in nested nodes of the same kind: (a AND (b AND c)) = a AND b AND c."""
    if len(children) == 1:
        return children[0]
    flat: list[Node] = []
    for child in children:
        if isinstance(child, kind):
            flat.extend(child.children)
        else:
            flat.append(child)
    return kind(tuple(flat))


def _negate(node: Node) -> Node:
    return node.child if isinstance(node, Not) else Not(node)
