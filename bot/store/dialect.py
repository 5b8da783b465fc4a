"""What differs between the store's SQL dialects, behind one small interface.

Most queries are written once, with named parameters (``:name``), in SQL both SQLite and PostgreSQL accept;
each driver turns the names into its own placeholders. What cannot be shared — the full-text search, a list
of ids as one parameter, keeping a search index current — is a method of a :class:`Dialect`. This is the
SQLite one; :mod:`bot.store.postgres.dialect` is the PostgreSQL one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.matching.nodes import Node
from bot.models import DeliveryKey
from bot.store.fts import fts_expression
from bot.store.paper_rows import PAPER_COLUMNS, paper_columns


class Dialect:
    """SQLite: FTS5 with its triggers, JSON lists through ``json_each``."""

    name = "sqlite"

    def ids(self, param: str) -> str:
        """A subquery yielding the ids in the JSON-array parameter ``param`` (one parameter for any count)."""
        return f"SELECT value FROM json_each(:{param})"

    def numbers(self, param: str) -> str:
        """Like :meth:`ids`, for integer ids (subscription ids): JSON numbers are integers in SQLite already."""
        return self.ids(param)

    async def serialize(self, db: Any, key: str) -> None:
        """Make the rest of this write transaction wait for any other one that called this with ``key``
        (counting then inserting, e.g. a cap). Nothing to do here: SQLite's ``BEGIN IMMEDIATE`` already runs one
        writer at a time."""

    def fts_query(self, root: Node) -> str | None:
        """The full-text query selecting a superset of ``root``'s matches; None when it cannot narrow it."""
        return fts_expression(root)

    def seen_since_sql(self) -> str:
        """Papers first seen since ``:since`` among the newest ``:limit`` full-text hits of ``:expression``
        (ordering and LIMIT appended by the caller)."""
        # Rowids grow in first-seen order: walk the full-text index backwards only as far as the period.
        return (
            "WITH hits AS (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression AND rowid >= "
            "(SELECT COALESCE(MIN(rowid), 0) FROM papers WHERE first_seen_at >= :since) "
            "ORDER BY rowid DESC LIMIT :limit) "
            f"SELECT {PAPER_COLUMNS} FROM papers "
            "WHERE rowid IN (SELECT rowid FROM hits) AND first_seen_at >= :since "
        )

    def search_sql(self, where: str) -> str:
        """The newest ``:window`` hits of ``:expression`` with a score (lower is better; the title weighs
        most), filtered by ``where``, best ``:limit`` first."""
        return f"""WITH recent AS (
                SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression ORDER BY rowid DESC LIMIT :window
            )
            SELECT {paper_columns("p")}, bm25(papers_fts, 8.0, 2.0, 1.0, 3.0) AS score
            FROM papers_fts JOIN papers p ON p.rowid = papers_fts.rowid
            WHERE papers_fts MATCH :expression
                AND papers_fts.rowid >= (SELECT COALESCE(MIN(rowid), 0) FROM recent){where}
            ORDER BY score LIMIT :limit"""

    async def index_papers(self, db: Any, ids: Sequence[str]) -> None:
        """Bring the full-text index up to date for papers just written (SQLite's triggers already did)."""

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
