"""PostgreSQL's side of :class:`bot.store.dialect.Dialect`: full-text search with ``tsvector``/GIN.

The document vector is computed in Python with the exact matcher's own normalization and Porter stems
(:mod:`bot.matching.text`), not with a PostgreSQL text-search configuration: its Snowball stemmer and accent
handling differ from the matcher's, and a paper the matcher accepts must never be missing from the candidates.
Each paper's vector holds every token and its stem, weighted by column (A title, B abstract, C authors,
D AI keywords), so a query term restricted to a column is a weight restriction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.matching.document import normalize_category
from bot.matching.nodes import Field, Node, Term
from bot.matching.text import stem, stem_all, tokenize
from bot.models import DeliveryKey, Paper
from bot.store.dialect import Dialect
from bot.store.fts import fts_expression
from bot.store.paper_rows import PAPER_COLUMNS, paper_columns, paper_from_row
from bot.store.schema import ts

# A plain word is looked up in every column (no weight restriction), although authors are not text to the matcher:
# a weight restriction makes PostgreSQL recheck each GIN hit against its row's vector, read from TOAST, which made
# a common word's search over 200,000 papers take seconds (benchmarks/RESULTS.md, PostgreSQL). The candidates stay
# a superset (a word in an author's name only adds one), the exact matcher still decides, and ts_rank's weights still
# rank title hits first.
_WEIGHTS = {Field.TEXT: "", Field.TITLE: "A", Field.ABSTRACT: "B", Field.AUTHOR: "C"}
# ts_rank's weights for D, C, B, A: the proportions of SQLite's bm25 column weights (title 8, abstract 2,
# authors 1, keywords 3).
_RANK_WEIGHTS = "'{0.3, 0.1, 0.2, 0.8}'"
# PostgreSQL refuses a lexeme over 2,046 bytes ("word is too long"), which would fail a whole listing: longer
# tokens are kept to their first 500 characters (at most 2,000 bytes). No query term is that long (a query has
# at most 300 characters), so the paper is still a candidate for every query that matches it.
_LEXEME_CHARS = 500
# It also refuses a whole vector over 1 MiB. A paper whose vector's literal would pass this many bytes (a hostile
# listing: a real abstract's is a few KB) gets none (NULL); such papers are candidates for every query, and the
# matcher decides. Internally a vector takes at most about 1.5 times its literal's bytes.
_VECTOR_BYTES = 500_000
# What a full-text condition on papers is on PostgreSQL: the tsquery's hits, and every paper too large to index.
_HIT = "(fts @@ CAST(:expression AS tsquery) OR fts IS NULL)"


def document_vector(paper: Paper) -> str | None:
    """The paper's ``tsvector`` in its literal form: every token and stem, with the weights of its columns; None
    when it would be too large to store."""
    weights: dict[str, set[str]] = {}
    columns = (("A", (paper.title,)), ("B", (paper.abstract,)), ("C", paper.authors), ("D", paper.ai_keywords))
    for weight, texts in columns:
        for text in texts:
            tokens = tokenize(text)
            for lexeme in (*tokens, *stem_all(tokens)):
                weights.setdefault(lexeme[:_LEXEME_CHARS], set()).add(weight)
    # Tokens are runs of letters and digits: nothing in them needs escaping inside the quotes.
    vector = " ".join(
        f"'{lexeme}':" + ",".join(f"{position}{weight}" for position, weight in enumerate(sorted(ws), 1))
        for lexeme, ws in weights.items()
    )
    return vector if len(vector.encode()) <= _VECTOR_BYTES else None


# Rows nobody sends, this process's, or those of a session that is gone (its process died: kill -9 included).
_CLAIMABLE = (
    " AND ({a}.claimed_by IS NULL OR {a}.claimed_by = :me OR {a}.claimed_by NOT IN (SELECT pid FROM pg_stat_activity))"
)


def tsquery(node: Node) -> str | None:
    """A ``tsquery`` (literal form) matching at least every paper ``node`` matches; None when unconstrained.

    The same walk as FTS5's expression: phrases widened to all of their words, negations left to the exact
    matcher."""
    return fts_expression(node, _term, " | ", " & ")


def _term(term: Term) -> str | None:
    weights = _WEIGHTS.get(term.field)
    if weights is None or not term.tokens:
        return None  # categories are not in the full-text index
    lexemes = []
    for position, token in enumerate(term.tokens, 1):
        if term.prefix and position == len(term.tokens):
            lexemes.append(f"'{token}':*{weights}")
        else:
            lexemes.append(f"'{stem(token) if term.stemmed else token}'" + (f":{weights}" if weights else ""))
    return " & ".join(lexemes)


class PostgresDialect(Dialect):
    """PostgreSQL: a ``tsvector`` column kept by the store, JSON lists through ``jsonb_array_elements_text``."""

    name = "postgresql"
    paper_key = "id"

    def ids(self, param: str) -> str:
        """A subquery yielding the ids in the JSON-array parameter ``param``."""
        return f"SELECT jsonb_array_elements_text(CAST(:{param} AS jsonb))"

    def keys(self, param: str) -> str:
        """A subquery yielding the rows ``(subscription_id, paper_id)`` of two parallel array parameters."""
        return (
            f"SELECT * FROM unnest(CAST(:{param}_subs AS bigint[]), CAST(:{param}_papers AS text[])) "
            "AS k(subscription_id, paper_id)"
        )

    def key_params(self, param: str, matched: Mapping[str, Sequence[int]]) -> dict[str, object]:
        """Each paper's subscription ids as two parallel arrays (asyncpg sends a list as one, in binary)."""
        return {
            f"{param}_subs": [sub_id for ids in matched.values() for sub_id in ids],
            f"{param}_papers": [paper_id for paper_id, ids in matched.items() for _ in ids],
        }

    def numbers(self, param: str) -> str:
        """A subquery yielding the integers in the JSON-array parameter ``param``, as ``bigint``."""
        return f"SELECT CAST(jsonb_array_elements_text(CAST(:{param} AS jsonb)) AS bigint)"

    async def serialize(self, db: Any, key: str) -> None:
        """A transaction-level advisory lock on ``key``: under READ COMMITTED, two transactions counting and then
        inserting would otherwise both see the count before either insert (and pass a cap together)."""
        await db.execute("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))", {"key": key})

    def fts_query(self, root: Node) -> str | None:
        """The ``tsquery`` selecting a superset of ``root``'s matches; None when it cannot narrow it."""
        return tsquery(root)

    def exact_fts_query(self, root: Node) -> str | None:
        """None: the vector keeps no word order nor item boundaries, so hits are always re-checked."""
        return None

    def hits_sql(self, limited: bool) -> str:
        """The ids of the papers first seen since ``:since`` matching the tsquery ``:expression`` (the newest
        ``:limit`` when ``limited``)."""
        hits = f"SELECT id FROM papers WHERE {_HIT} AND first_seen_at >= :since"
        return hits + (" ORDER BY first_seen_at DESC, id DESC LIMIT :limit" if limited else "")

    def search_sql(self, where: str) -> str:
        """The newest ``:window`` hits of ``:expression``, scored (lower is better), filtered by ``where``."""
        return f"""WITH recent AS (
                SELECT id FROM papers WHERE {_HIT}
                ORDER BY first_seen_at DESC, id DESC LIMIT :window
            )
            SELECT {paper_columns("p")},
                COALESCE(-ts_rank({_RANK_WEIGHTS}, p.fts, CAST(:expression AS tsquery))::float8, 0) AS score
            FROM papers p WHERE p.id IN (SELECT id FROM recent){where}
            ORDER BY score, p.first_seen_at DESC, p.id LIMIT :limit"""

    def claimable(self, alias: str) -> str:
        """Rows not claimed by another live session."""
        return _CLAIMABLE.format(a=alias)

    async def claim(self, database: Any, keys: Sequence[DeliveryKey], me: int) -> set[DeliveryKey] | None:
        """Mark the rows still claimable with ``me``, skipping rows another process is claiming right now."""
        if not keys:
            return set()
        async with (
            database.transaction() as db,
            db.execute(
                f"""UPDATE deliveries SET claimed_by = :me WHERE (subscription_id, paper_id) IN (
                    SELECT d.subscription_id, d.paper_id FROM deliveries d
                    WHERE (d.subscription_id, d.paper_id) IN (
                        SELECT CAST(k ->> 0 AS bigint), k ->> 1 FROM jsonb_array_elements(CAST(:keys AS jsonb)) k
                    ) AND d.status IN ('pending', 'sending'){self.claimable("d")}
                    FOR UPDATE SKIP LOCKED
                ) RETURNING subscription_id, paper_id""",
                {"me": me, "keys": json.dumps([list(key) for key in keys])},
            ) as cursor,
        ):
            return {(row["subscription_id"], row["paper_id"]) for row in await cursor.fetchall()}

    async def index_papers(self, db: Any, ids: Sequence[str]) -> None:
        """Recompute the vectors and category rows of papers just inserted or merged, from their stored (merged)
        fields."""
        if not ids:
            return
        listed = {"ids": json.dumps(list(ids))}
        async with db.execute(f"SELECT {PAPER_COLUMNS} FROM papers WHERE id IN ({self.ids('ids')})", listed) as cursor:
            papers = [paper_from_row(row) for row in await cursor.fetchall()]
        await db.executemany(
            "UPDATE papers SET fts = CAST(:fts AS tsvector) WHERE id = :id",
            [{"fts": document_vector(paper), "id": paper.id} for paper in papers],
        )
        await db.execute(f"DELETE FROM paper_categories WHERE paper_id IN ({self.ids('ids')})", listed)
        await db.executemany(
            "INSERT INTO paper_categories (category, first_seen_at, paper_id) VALUES (:category, :seen, :id) "
            "ON CONFLICT DO NOTHING",
            [
                {"category": category, "seen": ts(paper.first_seen_at), "id": paper.id}
                for paper in papers
                for category in {normalize_category(c) for c in paper.categories}
            ],
        )


POSTGRES = PostgresDialect()
