"""What differs between the store's SQL dialects, behind one small interface.

Most queries are written once, with named parameters (``:name``), in SQL both SQLite and PostgreSQL accept;
each driver turns the names into its own placeholders. What cannot be shared — the full-text search, a list
of ids as one parameter, keeping a search index current — is a method of a :class:`Dialect`. This is the
SQLite one; :mod:`bot.store.postgres.dialect` is the PostgreSQL one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.matching.nodes import Node
from bot.models import DeliveryKey
from bot.store.fts import BM25_WEIGHTS, exact_fts_expression, fts_expression
from bot.store.paper_rows import paper_columns


class Dialect:
    """SQLite: FTS5 with its triggers, JSON lists through ``json_each``."""

    name = "sqlite"
    paper_key = "rowid"  # the papers' column full-text hits are given as (see hits_sql)

    def ids(self, param: str) -> str:
        """A subquery yielding the ids in the JSON-array parameter ``param`` (one parameter for any count)."""
        return f"SELECT value FROM json_each(:{param})"

    def keys(self, param: str) -> str:
        """A subquery yielding the rows ``(subscription_id, paper_id)`` of the keys given by :meth:`key_params`."""
        return f"SELECT s.value AS subscription_id, p.key AS paper_id FROM json_each(:{param}) p, json_each(p.value) s"

    def numbers(self, param: str) -> str:
        """Like :meth:`ids`, for integer ids (subscription ids): JSON numbers are integers in SQLite already."""
        return self.ids(param)

    async def serialize(self, db: Any, key: str) -> None:
        """Make the rest of this write transaction wait for any other one that called this with ``key``
        (counting then inserting, e.g. a cap). Nothing to do here: SQLite's ``BEGIN IMMEDIATE`` already runs one
        writer at a time."""

    def key_params(self, param: str, matched: Mapping[str, Sequence[int]]) -> dict[str, object]:
        """Each paper's subscription ids as the parameters :meth:`keys` reads: one JSON object here (a third of the
        time a list of pairs takes to encode, in one C call that holds the interpreter lock and so the loop)."""
        return {param: json.dumps({paper_id: list(ids) for paper_id, ids in matched.items()})}

    def fts_query(self, root: Node) -> str | None:
        """The full-text query selecting ``root``'s matches (exactly, when it can) or a superset of them; None
        when it cannot narrow them."""
        return exact_fts_expression(root) or fts_expression(root)

    def exact_fts_query(self, root: Node) -> str | None:
        """The full-text query selecting exactly ``root``'s matches, so its hits need no re-check; None when
        there is none."""
        return exact_fts_expression(root)

    def hits_sql(self, limited: bool) -> str:
        """The :attr:`paper_key` of the full-text hits of ``:expression`` first seen since ``:since``, the newest
        ``:limit`` of them when ``limited``."""
        # Rowids grow in first-seen order: walk the full-text index backwards only as far as the period, whose
        # first rowid is found through the first-seen index (MIN(rowid) with this condition would scan the table).
        period = (
            "(SELECT COALESCE((SELECT rowid FROM papers WHERE first_seen_at >= :since ORDER BY first_seen_at LIMIT 1), "
            "(SELECT MAX(rowid) + 1 FROM papers), 0))"
        )
        return f"SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression AND rowid >= {period}" + (
            " ORDER BY rowid DESC LIMIT :limit" if limited else ""
        )

    def search_sql(self, where: str) -> str:
        """The newest ``:window`` hits of ``:expression`` with a score (lower is better; the title weighs
        most), filtered by ``where``, best ``:limit`` first."""
        return f"""WITH recent AS (
                SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression ORDER BY rowid DESC LIMIT :window
            )
            SELECT {paper_columns("p")}, bm25(papers_fts, {BM25_WEIGHTS}) AS score
            FROM papers_fts JOIN papers p ON p.rowid = papers_fts.rowid
            WHERE papers_fts MATCH :expression
                AND papers_fts.rowid >= (SELECT COALESCE(MIN(rowid), 0) FROM recent){where}
            ORDER BY score LIMIT :limit"""

    async def index_papers(self, db: Any, ids: Sequence[str]) -> None:
        """Bring the full-text and category indexes up to date for papers just written (SQLite's triggers
        already did)."""

    def claimable(self, alias: str) -> str:
        """A condition (`` AND ...``) keeping outbox rows another live process is sending; none with one process."""
        return ""

    async def claim(self, database: Any, keys: Sequence[DeliveryKey], me: int) -> set[DeliveryKey] | None:
        """Claim due outbox rows for the process marked ``me``; the keys it got (None: all, nobody else sends)."""
        return None


SQLITE = Dialect()


def dialect_of(db: object) -> Dialect:
    """The dialect of a transaction's connection (PostgreSQL's carries its own; SQLite's is the default)."""
    dialect = getattr(db, "dialect", SQLITE)
    assert isinstance(dialect, Dialect)
    return dialect
