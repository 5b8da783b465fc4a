"""Papers: ingest (insert new, merge known, queue deliveries), reads by id and by period, full-text search."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import aiosqlite

from bot.matching.nodes import Node
from bot.models import DeliveryKey, IngestResult, Paper
from bot.store.connection import Database
from bot.store.fts import fts_expression
from bot.store.outbox import queue_deliveries
from bot.store.paper_rows import PAPER_COLUMNS, PAPER_FIELDS, paper_columns, paper_from_row, paper_params
from bot.store.schema import ts

SEARCH_WINDOW = 500  # full-text hits ranked per search (the newest ones)

Planner = Callable[[Sequence[Paper], Sequence[Paper]], Iterable[DeliveryKey]]
"""Given (newly seen papers, recently seen papers whose metadata was just updated), the (subscription,
paper) pairs that should be delivered. Pairs already in the outbox are ignored, so re-planning is safe."""

_INSERT_PAPER = (
    f"INSERT INTO papers ({PAPER_COLUMNS}, updated_at) "
    f"VALUES ({', '.join(':' + field for field in PAPER_FIELDS)}, :updated_at)"
)

# Merge a stored paper with a new listing of it (named parameters as from paper_params): fill gaps, grow
# upvotes, prefer the HF page as the paper's link. first_seen_at is the store's and never changes.
_MERGE_PAPER = """
    UPDATE papers SET
        title = CASE WHEN :title != '' THEN :title ELSE title END,
        abstract = CASE WHEN :abstract != '' THEN :abstract ELSE abstract END,
        authors = CASE WHEN :authors = '[]' THEN authors ELSE :authors END,
        categories = CASE WHEN :categories = '[]' THEN categories ELSE :categories END,
        url = CASE WHEN :source = 'huggingface' OR url = '' THEN :url ELSE url END,
        pdf_url = COALESCE(pdf_url, :pdf_url), code_url = COALESCE(:code_url, code_url),
        project_url = COALESCE(:project_url, project_url), thumbnail_url = COALESCE(:thumbnail_url, thumbnail_url),
        upvotes = MAX(upvotes, :upvotes), ai_summary = COALESCE(:ai_summary, ai_summary),
        ai_keywords = CASE WHEN :ai_keywords = '[]' THEN ai_keywords ELSE :ai_keywords END,
        published_at = COALESCE(published_at, :published_at), updated_at = :updated_at
    WHERE id = :id"""


class PaperQueries:
    """The papers part of :class:`bot.store.Store`."""

    _db: Database

    async def ingest(
        self, papers: Sequence[Paper], plan: Planner, now: datetime, recheck_since: datetime | None = None
    ) -> IngestResult:
        """Store ``papers`` and queue their deliveries, in one transaction.

        Papers seen for the first time are "new" and passed to ``plan``; a new *version* of a paper
        (``announce_type`` replace) is stored but never new. Papers already stored keep ``first_seen_at``
        and get their metadata merged (upvotes only grow; missing fields are filled in). Those first seen
        at or after ``recheck_since`` are passed to ``plan`` as "updated", with their merged metadata, so
        upvote thresholds can be re-checked. ``plan`` runs inside the transaction: a crash can never store
        a paper without its deliveries.
        """
        unique = list({p.id: p for p in papers}.values())
        async with self._db.transaction() as db:
            known = await _existing_ids(db, [p.id for p in unique])
            inserted = [replace(p, first_seen_at=now) for p in unique if p.id not in known]
            await db.executemany(_INSERT_PAPER, [paper_params(p, now) for p in inserted])
            merged = [p for p in unique if p.id in known]
            await db.executemany(_MERGE_PAPER, [paper_params(p, now) for p in merged])
            recheck: list[Paper] = []
            if recheck_since is not None and merged:
                recheck = await _papers_by_id(db, [p.id for p in merged], first_seen_since=recheck_since)
            new = tuple(p for p in inserted if not p.is_new_version)
            keys = list(plan(new, recheck)) if new or recheck else []
            queued = await queue_deliveries(db, keys, now)
        return IngestResult(new_papers=new, updated=len(merged), queued=queued)

    async def get_paper(self, paper_id: str) -> Paper | None:
        """One stored paper by id."""
        row = await self._db.fetchone(f"SELECT {PAPER_COLUMNS} FROM papers WHERE id = :id", {"id": paper_id})
        return None if row is None else paper_from_row(row)

    async def papers_seen_since(
        self,
        since: datetime,
        limit: int = 5000,
        root: Node | None = None,
    ) -> list[Paper]:
        """Papers first seen at or after ``since``, newest first; with a parsed query's ``root``, only its
        full-text candidates (a superset of its matches: the caller applies the exact matcher). Rowids grow
        in first-seen order, so the full-text lookup is bounded to the rowids of the period."""
        expression = None if root is None else fts_expression(root)
        if expression is None:
            sql = f"SELECT {PAPER_COLUMNS} FROM papers WHERE first_seen_at >= :since "
        else:
            # The newest hits first, walking the full-text index backwards only as far as needed.
            sql = (
                "WITH hits AS (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression AND rowid >= "
                "(SELECT COALESCE(MIN(rowid), 0) FROM papers WHERE first_seen_at >= :since) "
                "ORDER BY rowid DESC LIMIT :limit) "
                f"SELECT {PAPER_COLUMNS} FROM papers "
                "WHERE rowid IN (SELECT rowid FROM hits) AND first_seen_at >= :since "
            )
        rows = await self._db.fetchall(
            sql + "ORDER BY first_seen_at DESC, id DESC LIMIT :limit",
            {"expression": expression, "since": ts(since), "limit": limit},
        )
        return [paper_from_row(r) for r in rows]

    async def count_papers(self, source: str | None = None) -> int:
        """How many papers are stored (optionally from one source)."""
        where = "" if source is None else " WHERE source = :source"
        row = await self._db.fetchone(f"SELECT COUNT(*) AS n FROM papers{where}", {"source": source})
        return int(row["n"]) if row else 0

    async def latest_papers(self, limit: int, source: str | None = None) -> list[Paper]:
        """The most recently first-seen papers (optionally from one source), newest first."""
        where = "WHERE source = :source" if source else ""
        rows = await self._db.fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers {where} ORDER BY first_seen_at DESC, id DESC LIMIT :limit",
            {"source": source, "limit": limit},
        )
        return [paper_from_row(r) for r in rows]

    async def trending_papers(self, since: datetime, limit: int) -> list[Paper]:
        """Hugging Face papers first seen since ``since``, most upvoted first."""
        rows = await self._db.fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE first_seen_at >= :since AND upvotes > 0 "
            "ORDER BY upvotes DESC, first_seen_at DESC LIMIT :limit",
            {"since": ts(since), "limit": limit},
        )
        return [paper_from_row(r) for r in rows]

    async def search_papers(
        self, root: Node, limit: int, source: str | None = None, window: int = SEARCH_WINDOW
    ) -> list[tuple[Paper, float]] | None:
        """Full-text candidates for a parsed query's ``root`` (a superset of its matches), with bm25 scores
        (lower is better; the title weighs most); None when full-text search cannot narrow the query (only
        categories or negations, say), so the caller picks its candidates another way.

        Only the newest ``window`` full-text hits are ranked: a very common word would otherwise make bm25
        score most of the table on every search."""
        expression = fts_expression(root)
        if expression is None:
            return None
        where = " AND p.source = :source" if source else ""
        rows = await self._db.fetchall(
            f"""WITH recent AS (
                    SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression ORDER BY rowid DESC LIMIT :window
                )
                SELECT {paper_columns("p")}, bm25(papers_fts, 8.0, 2.0, 1.0, 3.0) AS score
                FROM papers_fts JOIN papers p ON p.rowid = papers_fts.rowid
                WHERE papers_fts MATCH :expression
                    AND papers_fts.rowid >= (SELECT COALESCE(MIN(rowid), 0) FROM recent){where}
                ORDER BY score LIMIT :limit""",
            {"expression": expression, "window": window, "source": source, "limit": limit},
        )
        return [(paper_from_row(r), float(r["score"])) for r in rows]


# A list of ids travels as one JSON parameter, so no statement is built per list length.
_IDS = "SELECT value FROM json_each(:ids)"


async def _existing_ids(db: aiosqlite.Connection, ids: Sequence[str]) -> set[str]:
    # Every id ever seen, pruned papers included: a paper listed again after retention removed it is not new.
    async with db.execute(f"SELECT id FROM seen_papers WHERE id IN ({_IDS})", {"ids": json.dumps(ids)}) as cursor:
        return {row["id"] for row in await cursor.fetchall()}


async def _papers_by_id(db: aiosqlite.Connection, ids: Sequence[str], first_seen_since: datetime) -> list[Paper]:
    async with db.execute(
        f"SELECT {PAPER_COLUMNS} FROM papers WHERE id IN ({_IDS}) AND first_seen_at >= :since",
        {"ids": json.dumps(ids), "since": ts(first_seen_since)},
    ) as cursor:
        return [paper_from_row(row) for row in await cursor.fetchall()]
