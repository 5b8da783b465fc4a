"""The query language and matching engine: parse → syntax tree → compiled matcher, plus the
subscription index that matches many stored queries at once (with NumPy). No Discord, no I/O."""

from bot.matching.document import PaperDocument, document_for
from bot.matching.errors import QueryError
from bot.matching.index import SubscriptionIndex
from bot.matching.nodes import And, Field, Node, Not, Or, Term
from bot.matching.query import Query, matches, parse_query

__all__ = [
    "And",
    "Field",
    "Node",
    "Not",
    "Or",
    "PaperDocument",
    "Query",
    "QueryError",
    "SubscriptionIndex",
    "Term",
    "document_for",
    "matches",
    "parse_query",
]
