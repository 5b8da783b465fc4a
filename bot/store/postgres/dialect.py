"""PostgreSQL's side of :class:`bot.store.dialect.Dialect`: full-text search with ``tsvector``/GIN.

The document vector is computed in Python with the exact matcher's own normalization and Porter stems
(:mod:`bot.matching.text`), not with a PostgreSQL text-search configuration: its Snowball stemmer and accent
handling differ from the matcher's, and a paper the matcher accepts must never be missing from the candidates.
Each paper's vector holds every token and its stem, weighted by column (A title, B abstract, C authors,
D AI keywords), so a query term restricted to a column is a weight restriction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.matching.nodes import Field, Node, Term
from bot.matching.text import stem, stem_all, tokenize
from bot.models import DeliveryKey, Paper
from bot.store.dialect import Dialect
from bot.store.fts import fts_expression
from bot.store.paper_rows import PAPER_COLUMNS, paper_columns, paper_from_row

# A plain word is looked up in every column (no weight restriction), although authors are not text to the matcher:
# a weight restriction makes PostgreSQL recheck each GIN hit against its row's vector, read from TOAST, which made
# a common word's search over 200,000 papers take seconds (benchmarks/RESULTS.md, PostgreSQL). The candidates stay
# a superset (a word in an author's name only adds one), the exact matcher still decides, and ts_rank's weights still
# rank title hits first.
_WEIGHTS = {Field.TEXT: "", Field.TITLE: "A", Field.ABSTRACT: "B", Field.AUTHOR: "C"}
# ts_rank's weights for D, C, B, A: the proportions of SQLite's bm25 column weights (title 8, abstract 2,
# authors 1, keywords 3).
_RANK_WEIGHTS = "'{0.3, 0.1, 0.2, 0.8}'"


def document_vector(paper: Paper) -> str:
    """The paper's ``tsvector`` in its literal form: every token and stem, with the weights of its columns."""
    weights: dict[str, set[str]] = {}
    columns = (("A", (paper.title,)), ("B", (paper.abstract,)), ("C", paper.authors), ("D", paper.ai_keywords))
    for weight, texts in columns:
        for text in texts:
            tokens = tokenize(text)
            for lexeme in (*tokens, *stem_all(tokens)):
                weights.setdefault(lexeme, set()).add(weight)
    # Tokens are runs of letters and digits: nothing in them needs escaping inside the quotes.
    return " ".join(
        f"'{lexeme}':" + ",".join(f"{position}{weight}" for position, weight in enumerate(sorted(ws), 1))
        for lexeme, ws in weights.items()
    )


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

    def ids(self, param: str) -> str:
        """A subquery yielding the ids in the JSON-array parameter ``param``."""
        return f"SELECT jsonb_array_elements_text(CAST(:{param} AS jsonb))"

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

    def seen_since_sql(self) -> str:
        """Papers first seen since ``:since`` matching the tsquery ``:expression``."""
        return (
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE fts @@ CAST(:expression AS tsquery) AND first_seen_at >= :since "
        )

    def search_sql(self, where: str) -> str:
        """The newest ``:window`` hits of ``:expression``, scored (lower is better), filtered by ``where``."""
        return f"""WITH recent AS (
                SELECT id FROM papers WHERE fts @@ CAST(:expression AS tsquery)
                ORDER BY first_seen_at DESC, id DESC LIMIT :window
            )
            SELECT {paper_columns("p")},
                -ts_rank({_RANK_WEIGHTS}, p.fts, CAST(:expression AS tsquery))::float8 AS score
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
        """Recompute the vectors of papers just inserted or merged, from their stored (merged) fields."""
        if not ids:
            return
        async with db.execute(
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE id IN ({self.ids('ids')})", {"ids": json.dumps(list(ids))}
        ) as cursor:
            papers = [paper_from_row(row) for row in await cursor.fetchall()]
        await db.executemany(
            "UPDATE papers SET fts = CAST(:fts AS tsvector) WHERE id = :id",
            [{"fts": document_vector(paper), "id": paper.id} for paper in papers],
        )


POSTGRES = PostgresDialect()
