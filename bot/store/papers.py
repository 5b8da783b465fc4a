"""Papers: ingest (insert new, merge known, queue deliveries), reads by id and by period, full-text search."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.matching.nodes import Node
from bot.models import CURATED_SOURCES, DeliveryKey, IngestResult, Paper
from bot.store.categories import category_hits
from bot.store.connection import AnyDatabase, Connection, Row
from bot.store.dialect import dialect_of
from bot.store.fts import categories_or_text, category_terms, only_categories
from bot.store.matches import CompactMatches, CompactWriter
from bot.store.outbox import Matched, queue_deliveries, queue_matched
from bot.store.paper_rows import PAPER_COLUMNS, PAPER_FIELDS, paper_from_row, paper_params
from bot.store.schema import ts

SEARCH_WINDOW = 500  # full-text hits ranked per search (the newest ones)

Planner = Callable[[Sequence[Paper], Sequence[Paper]], Iterable[DeliveryKey] | AsyncIterable[Matched | CompactMatches]]
"""Given (newly seen papers, recently seen papers whose metadata was just updated), the (subscription,
paper) pairs that should be delivered: all at once, or streamed in chunks of each paper's subscription ids (a big
listing at many subscriptions plans millions of pairs) — as :class:`CompactMatches` for new papers' plain matches,
which a big poll keeps compact for the background expansion (bot/store/matches.py). Pairs already in the outbox are
ignored, so re-planning is safe."""

_INSERT_PAPER = (
    f"INSERT INTO papers ({PAPER_COLUMNS}, updated_at) "
    f"VALUES ({', '.join(':' + field for field in PAPER_FIELDS)}, :updated_at)"
)

# Merge a stored paper with a new listing of it (named parameters as from paper_params, plus :curated): fill
# gaps, grow upvotes, prefer the HF page as the paper's link. A curated source (HF, arXiv) replaces the title,
# abstract, authors and categories; a generic feed only fills them where they are empty, so a blog or journal
# entry linking arxiv.org never rewrites a paper's metadata (or its full-text row). first_seen_at never changes.
_MERGE_PAPER = """
    UPDATE papers SET
        title = CASE WHEN :title != '' AND (:curated OR title = '') THEN :title ELSE title END,
        abstract = CASE WHEN :abstract != '' AND (:curated OR abstract = '') THEN :abstract ELSE abstract END,
        authors = CASE WHEN :authors != '[]' AND (:curated OR authors = '[]') THEN :authors ELSE authors END,
        categories = CASE WHEN :categories != '[]' AND (:curated OR categories = '[]') THEN :categories
                          ELSE categories END,
        url = CASE WHEN :source = 'huggingface' OR url = '' THEN :url ELSE url END,
        pdf_url = COALESCE(pdf_url, :pdf_url), code_url = COALESCE(:code_url, code_url),
        project_url = COALESCE(:project_url, project_url), thumbnail_url = COALESCE(:thumbnail_url, thumbnail_url),
        upvotes = CASE WHEN :upvotes > upvotes THEN :upvotes ELSE upvotes END,
        ai_summary = COALESCE(:ai_summary, ai_summary),
        ai_keywords = CASE WHEN :ai_keywords = '[]' THEN ai_keywords ELSE :ai_keywords END,
        published_at = COALESCE(published_at, :published_at), updated_at = :updated_at,
        version = CASE WHEN :version > COALESCE(version, 0) THEN :version ELSE version END
    WHERE id = :id"""


class PaperQueries:
    """The papers part of :class:`bot.store.Store`."""

    _db: AnyDatabase

    async def ingest(
        self,
        papers: Sequence[Paper],
        plan: Planner,
        now: datetime,
        recheck_since: datetime | None = None,
        max_new: int | None = None,
    ) -> IngestResult:
        """Store ``papers`` and queue their deliveries, in one transaction.

        Papers seen for the first time are "new" and passed to ``plan``; a new *version* of a paper
        (``announce_type`` replace) is stored but never new. Papers already stored keep ``first_seen_at``
        and get their metadata merged (upvotes only grow; missing fields are filled in). Those first seen
        at or after ``recheck_since`` are passed to ``plan`` as "updated", with their merged metadata, so
        upvote thresholds can be re-checked. ``plan`` runs inside the transaction: a crash can never store
        a paper without its deliveries; a streamed plan is queued chunk by chunk as it comes, its compact matches
        as outbox rows when the poll has few of them, else as compact rows (``compacted`` pairs). With ``max_new``,
        only the first ``max_new`` unseen papers (in the given order) are stored; the rest are left unseen and
        counted as ``deferred``.
        """
        unique = list({p.id: p for p in papers}.values())
        async with self._db.transaction() as db:
            known = await _existing_ids(db, [p.id for p in unique])
            unseen = [p for p in unique if p.id not in known]
            deferred = unseen[max_new:] if max_new is not None else []
            merged = [p for p in unique if p.id in known]
            inserted, inserts, merges = await asyncio.to_thread(
                _rows_to_write, unseen[: len(unseen) - len(deferred)], merged, now
            )
            await db.executemany(_INSERT_PAPER, inserts)
            await db.executemany(_MERGE_PAPER, merges)
            recheck: list[Paper] = []
            if recheck_since is not None and merged:
                recheck = await _papers_by_id(db, [p.id for p in merged], first_seen_since=recheck_since)
            new = tuple(p for p in inserted if not p.is_new_version)
            planned = plan(new, recheck) if new or recheck else ()
            compacted = 0
            if isinstance(planned, AsyncIterable):
                queued, compact = 0, CompactWriter(db, now)
                async for matched in planned:
                    if isinstance(matched, CompactMatches):
                        await compact.add(matched)
                    else:
                        queued += await queue_matched(db, matched, now)
                queued += await compact.finish()
                compacted = compact.compacted
            else:
                queued = await queue_deliveries(db, list(planned), now)
            await dialect_of(db).index_papers(db, [p.id for p in unique])
        return IngestResult(
            new_papers=new, updated=len(merged), queued=queued, deferred=len(deferred), compacted=compacted
        )

    async def get_paper(self, paper_id: str) -> Paper | None:
        """One stored paper by id."""
        row = await self._db.fetchone(f"SELECT {PAPER_COLUMNS} FROM papers WHERE id = :id", {"id": paper_id})
        return None if row is None else paper_from_row(row)

    async def papers_by_id(self, ids: Sequence[str]) -> list[Paper]:
        """The stored papers with these ids, in the order given (ids not stored are left out)."""
        rows = await self._db.fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE id IN ({self._db.dialect.ids('ids')})", {"ids": json.dumps(ids)}
        )
        found = {row["id"]: paper_from_row(row) for row in rows}
        return [found[i] for i in ids if i in found]

    async def papers_seen_since(
        self, since: datetime, limit: int = 5000, root: Node | None = None, min_upvotes: int = 0
    ) -> list[Paper]:
        """Papers first seen at or after ``since`` (with at least ``min_upvotes``), newest first; with a parsed
        query's ``root``, only its candidates from the full-text or category index (exactly its matches when
        :meth:`index_is_exact`, else a superset: the caller applies the exact matcher), read on the searcher."""
        params: dict[str, object] = {"since": ts(since), "limit": limit, "min_upvotes": min_upvotes}
        hits = None if root is None else await self._candidates(root, params, limited=True)
        where = "first_seen_at >= :since AND upvotes >= :min_upvotes"
        order = "ORDER BY first_seen_at DESC, id DESC LIMIT :limit"
        if hits is None:
            rows = await self._db.fetchall(f"SELECT {PAPER_COLUMNS} FROM papers WHERE {where} {order}", params)
        else:
            key, subquery = hits
            rows = await self._db.search_fetchall(
                f"SELECT {PAPER_COLUMNS} FROM papers WHERE {key} IN ({subquery}) AND {where} {order}", params
            )
        return await _papers_off_the_loop(rows)

    async def count_seen_since(self, since: datetime, root: Node, most: int) -> int | None:
        """How many of ``root``'s index candidates were first seen at or after ``since``, up to ``most`` (None: no
        index narrows the query), counted on the searcher without reading the papers."""
        params: dict[str, object] = {"since": ts(since), "most": most}
        hits = await self._candidates(root, params, limited=False)
        if hits is None:
            return None
        # Counting stops at ``most``: a common word or category costs what a preview shows, not all its hits.
        rows = await self._db.search_fetchall(f"SELECT COUNT(*) AS n FROM ({hits[1]} LIMIT :most) hits", params)
        return int(rows[0]["n"])

    async def papers_in_categories(
        self, root: Node, limit: int, source: str | None = None, before: Paper | None = None
    ) -> list[Paper] | None:
        """The newest papers having one of the categories every match of ``root`` has (a superset of its
        matches, from the category index, on the searcher), older than ``before`` in this order (the last paper
        of the previous page) when given; None when the query does not pin its matches to categories."""
        categories = category_terms(root)
        if categories is None:
            return None
        params: dict[str, object] = {"source": source, "limit": limit}
        condition = " AND paper_id IN (SELECT id FROM papers WHERE source = :source)" if source else ""
        if before is not None:
            # The next page starts after the last paper of this one: no page re-reads the ones before it.
            condition += " AND (first_seen_at, paper_id) < (:before_seen, :before_id)"
            params.update(before_seen=ts(before.first_seen_at), before_id=before.id)
        page = await category_hits(self._db, categories, condition, params, limited=True)
        rows = await self._db.search_fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE id IN (SELECT paper_id FROM ({page}) page) "
            "ORDER BY first_seen_at DESC, id DESC",
            params,
        )
        return [paper_from_row(r) for r in rows]

    def index_is_exact(self, root: Node) -> bool:
        """Whether the indexes' candidates for ``root`` are exactly its matches (no re-check needed)."""
        if self._db.dialect.exact_fts_query(root) is not None or only_categories(root):
            return True
        split = categories_or_text(root)
        # cat:cs.CL OR attention: the union of both indexes' hits is exact when each part's is.
        return split is not None and only_categories(split[0]) and self.index_is_exact(split[1])

    async def _candidates(self, root: Node, params: dict[str, object], limited: bool) -> tuple[str, str] | None:
        """The papers' key column and a subquery of ``root``'s candidates first seen since ``:since`` — the
        newest ``:limit`` full-text hits (all of them unless ``limited``), the category index's, or for categories
        OR-ed with text both — adding its parameters to ``params``; None when no index narrows the query."""
        dialect = self._db.dialect
        expression = dialect.fts_query(root)
        if expression is not None:
            params["expression"] = expression
            return dialect.paper_key, dialect.hits_sql(limited)
        since = " AND first_seen_at >= :since"
        categories = category_terms(root)
        if categories is not None:
            hits = await category_hits(self._db, categories, since, params, limited)
            return "id", f"SELECT paper_id FROM ({hits}) hits"
        split = categories_or_text(root)
        if split is None or (expression := dialect.fts_query(split[1])) is None:
            return None
        # cat:cs.CL OR attention: the category index's candidates and the full-text index's (each the newest
        # :limit when limited, so the newest :limit of the union are among them).
        params["expression"] = expression
        pinned = await category_hits(self._db, category_terms(split[0]) or [], since, params, limited)
        by_text = f"SELECT id FROM papers WHERE {dialect.paper_key} IN ({dialect.hits_sql(limited)})"
        return "id", f"SELECT paper_id FROM ({pinned}) hits UNION SELECT id FROM ({by_text}) text_hits"

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
        return await _papers_off_the_loop(rows)

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
        """Full-text candidates for a parsed query's ``root`` (exactly its matches when :meth:`index_is_exact`,
        else a superset), with scores (lower is better; the title weighs most), on the searcher; None when
        full-text search cannot narrow the query (only categories or negations, say), so the caller picks its
        candidates another way.

        Only the newest ``window`` full-text hits are ranked: a very common word would otherwise make bm25
        score most of the table on every search."""
        expression = self._db.dialect.fts_query(root)
        if expression is None:
            return None
        where = " AND p.source = :source" if source else ""
        rows = await self._db.search_fetchall(
            self._db.dialect.search_sql(where),
            {"expression": expression, "window": window, "source": source, "limit": limit},
        )
        return [(paper_from_row(r), float(r["score"])) for r in rows]


def _rows_to_write(
    unseen: Sequence[Paper], merged: Sequence[Paper], now: datetime
) -> tuple[list[Paper], list[dict[str, object]], list[dict[str, object]]]:
    """The unseen papers as first seen ``now``, their inserts' parameters and the merges' (in a worker thread:
    ~25 µs of Python a paper, so an arXiv day's 2,500 would hold the event loop for ~60 ms)."""
    inserted = [replace(p, first_seen_at=now) for p in unseen]
    inserts = [paper_params(p, now) for p in inserted]
    merges = [{**paper_params(p, now), "curated": p.source in CURATED_SOURCES} for p in merged]
    return inserted, inserts, merges


async def _papers_off_the_loop(rows: Sequence[Row]) -> list[Paper]:
    """Rows as papers, made in a worker thread: a search's re-check reads up to thousands of them (~20 µs each),
    which would hold the event loop for a tenth of a second."""
    return await asyncio.to_thread(lambda: [paper_from_row(r) for r in rows])


# A list of ids travels as one JSON parameter, so no statement is built per list length.


async def _existing_ids(db: Connection, ids: Sequence[str]) -> set[str]:
    # Every id ever seen, pruned papers included: a paper listed again after retention removed it is not new.
    sql = f"SELECT id FROM seen_papers WHERE id IN ({dialect_of(db).ids('ids')})"
    async with db.execute(sql, {"ids": json.dumps(ids)}) as cursor:
        return {row["id"] for row in await cursor.fetchall()}


async def _papers_by_id(db: Connection, ids: Sequence[str], first_seen_since: datetime) -> list[Paper]:
    async with db.execute(
        f"SELECT {PAPER_COLUMNS} FROM papers WHERE id IN ({dialect_of(db).ids('ids')}) AND first_seen_at >= :since",
        {"ids": json.dumps(ids), "since": ts(first_seen_since)},
    ) as cursor:
        rows = list(await cursor.fetchall())
    return await _papers_off_the_loop(rows)  # a listing re-read at every poll: 2,000 rows, ~50 ms of Python
