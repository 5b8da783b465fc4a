"""Retention: pruning old papers (their full-text and category-index rows and settled outbox rows go with them),
file statistics and giving freed pages back to the file system.

On PostgreSQL the pruning is the same SQL; the full-text index is a column of ``papers`` (it goes with the row),
autovacuum gives space back by itself, and the size is ``pg_database_size``: those steps are SQLite's only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.store.connection import AnyDatabase, Database
from bot.store.schema import dt, ts

INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL

# The oldest papers first seen before the cutoff that nothing still waits to deliver (a paused subscription's
# queued papers stay until they are sent, and so do matches still compact) and no relevance profile learns from (a
# click or a seeded or imported example: a profile needs the paper's words).
_PRUNABLE = """
    SELECT id FROM papers p WHERE first_seen_at < :cutoff AND NOT EXISTS (
        SELECT 1 FROM deliveries d WHERE d.paper_id = p.id AND d.status IN ('pending', 'held', 'sending')
    ) AND NOT EXISTS (SELECT 1 FROM paper_matches m WHERE m.paper_id = p.id)
      AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.paper_id = p.id)
      AND NOT EXISTS (SELECT 1 FROM profile_examples e WHERE e.paper_id = p.id)
    ORDER BY first_seen_at LIMIT :limit"""


@dataclass(frozen=True, slots=True)
class StorageStats:
    """How big the database is and what it holds."""

    file_bytes: int  # pages in the main file (the write-ahead log comes on top until a checkpoint)
    free_bytes: int  # pages inside the file that are free, waiting for an incremental vacuum
    papers: int
    oldest_paper: datetime | None  # first seen, of the oldest paper kept
    seen_ids: int  # every paper id ever seen (kept after pruning, so a re-listing is never new)


class RetentionQueries:
    """The retention part of :class:`bot.store.Store`."""

    _db: AnyDatabase

    async def prune_papers(self, before: datetime, limit: int) -> int:
        """Remove up to ``limit`` of the oldest papers first seen before ``before``, their settled outbox rows and
        their category-index rows (SQLite's full-text rows follow by trigger); their ids stay in ``seen_papers``.
        Returns how many went."""
        async with self._db.transaction() as db:
            async with db.execute(_PRUNABLE, {"cutoff": ts(before), "limit": limit}) as cursor:
                rows = list(await cursor.fetchall())
            ids = json.dumps([row["id"] for row in rows])
            listed = self._db.dialect.ids("ids")
            await db.execute(f"DELETE FROM deliveries WHERE paper_id IN ({listed})", {"ids": ids})
            await db.execute(f"DELETE FROM paper_categories WHERE paper_id IN ({listed})", {"ids": ids})
            await db.execute(f"DELETE FROM papers WHERE id IN ({listed})", {"ids": ids})
            return len(rows)

    async def merge_full_text(self, pages: int) -> bool:
        """One bounded step (about ``pages`` pages written) of merging the full-text index's segments into one.

        FTS5 records a deleted paper as a tombstone and drops its entries only when the segments holding them
        are merged, which for the oldest papers (in the largest segment) is rarely: without this the index
        keeps growing after pruning. Returns False once there was nothing left to merge (at once on PostgreSQL)."""
        if self._db.dialect.name != "sqlite":
            return False
        async with self._db.transaction() as db:
            before = db.total_changes
            await db.execute("INSERT INTO papers_fts (papers_fts, rank) VALUES ('merge', :pages)", {"pages": -pages})
            return db.total_changes - before >= 2  # FTS5's documented way to tell whether a merge did work

    async def storage_stats(self) -> StorageStats:
        """The database's size, free pages, papers kept and the oldest of them."""
        if self._db.dialect.name != "sqlite":
            row = await self._db.fetchone(
                "SELECT pg_database_size(current_database()) AS size, (SELECT COUNT(*) FROM papers) AS papers, "
                "(SELECT MIN(first_seen_at) FROM papers) AS oldest, (SELECT COUNT(*) FROM seen_papers) AS seen"
            )
            assert row is not None
            return StorageStats(int(row["size"]), 0, int(row["papers"]), dt(row["oldest"]), int(row["seen"]))
        row = await self._db.fetchone(
            "SELECT (SELECT page_count FROM pragma_page_count()) AS pages, "
            "(SELECT freelist_count FROM pragma_freelist_count()) AS free, "
            "(SELECT page_size FROM pragma_page_size()) AS page_size, "
            "(SELECT COUNT(*) FROM papers) AS papers, (SELECT MIN(first_seen_at) FROM papers) AS oldest, "
            "(SELECT COUNT(*) FROM seen_papers) AS seen"
        )
        assert row is not None
        size = int(row["page_size"])
        return StorageStats(
            int(row["pages"]) * size, int(row["free"]) * size, int(row["papers"]), dt(row["oldest"]), int(row["seen"])
        )

    async def incremental_vacuum_enabled(self) -> bool:
        """Whether freed pages can be given back without a full VACUUM (always, on PostgreSQL: autovacuum)."""
        if self._db.dialect.name != "sqlite":
            return True
        row = await self._db.fetchone("SELECT auto_vacuum FROM pragma_auto_vacuum()")
        return row is not None and int(row["auto_vacuum"]) == INCREMENTAL

    async def enable_incremental_vacuum(self) -> None:
        """Switch a database made before auto_vacuum to incremental: takes one full VACUUM (rewrites the file)."""
        if isinstance(self._db, Database):
            await self._db.outside_transaction("PRAGMA auto_vacuum=INCREMENTAL")
            await self._db.outside_transaction("VACUUM")

    async def release_free_pages(self) -> None:
        """Give free pages back to the file system, and fold the write-ahead log back into the file (SQLite)."""
        if isinstance(self._db, Database):
            await self._db.outside_transaction("PRAGMA incremental_vacuum")
            await self._db.outside_transaction("PRAGMA wal_checkpoint(TRUNCATE)")
