"""Reading stored papers for users — ``/papers search``, previews and backfills — from the indexes.

A text query's full-text hits are exactly its matches on SQLite (:func:`bot.store.fts.exact_fts_expression`),
and a category-only query's category-index hits are on either driver, so most reads run no Python matching at
all. Otherwise the index gives a superset and the exact matcher filters it in a worker thread
(:func:`exact_matches`), never on the event loop. Every read goes to the store's searcher, whose statements
are stopped after a time budget; a query with too many prefixes is refused before it reaches the database.
Either is :class:`QueryTooBroad`, with a message for the user.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from bot.matching import Query, document_for, matches
from bot.models import Paper
from bot.store import Store, search_budget
from bot.store.fts import categories_or_text, only_categories, prefix_terms
from bot.store.search_budget import SearchTooCostly

SEARCH_CANDIDATES = 100  # full-text candidates fetched before exact matching and ranking
SEARCH_SCAN = 5000  # most recent papers read when no index narrows a query
CATEGORY_PAGE = 250  # category-index candidates read at a time, newest first, until enough match
MAX_SEARCH_PREFIXES = 8  # prefix terms (word*) one search, preview or backfill may use
PREVIEW_LIMIT = 5000  # most matches a preview counts

T = TypeVar("T")


class QueryTooBroad(Exception):
    """A search, preview or backfill would cost too much (too many prefixes, or it ran out of time); the
    message says what to do."""


def check_cost(query: Query) -> None:
    """Refuse a query whose prefixes would make the full-text index read most of its words."""
    prefixes = prefix_terms(query.root)
    if len(prefixes) > MAX_SEARCH_PREFIXES:
        raise QueryTooBroad(
            f"This query has {len(prefixes)} prefix terms (word*); a search may use at most "
            f"{MAX_SEARCH_PREFIXES}, since each one reads every stored word that starts with it. "
            "Use fewer prefixes, or whole words."
        )


async def bounded(read: Awaitable[T]) -> T:
    """The result of a read on the searcher, or :class:`QueryTooBroad` when the database stopped it."""
    try:
        return await read
    except SearchTooCostly as exc:
        raise QueryTooBroad(
            "This query matches too much to search in time (it was stopped after "
            f"{search_budget.SEARCH_TIME_BUDGET:g} s). Narrow it: longer prefixes, fewer OR-ed terms, or a word "
            "every result must contain."
        ) from exc


async def exact_matches(query: Query, papers: Sequence[Paper]) -> list[Paper]:
    """The papers ``query`` matches, in order, checked in a worker thread so the event loop keeps running.

    Preparing a paper for matching costs ~0.1 ms of pure Python; thousands of them would stall the loop."""
    if not papers:
        return []
    return await asyncio.to_thread(lambda: [p for p in papers if matches(query, document_for(p))])


async def search(store: Store, query: Query, now: datetime, source: str | None, limit: int) -> list[Paper]:
    """Stored papers matching ``query``, best first: full-text relevance blended with upvotes and recency.

    The full-text index selects candidates (with their relevance); a query without full-text terms takes the
    newest papers of its categories (or, with none, the newest papers) instead."""
    check_cost(query)
    hits = await _candidates(store, query, limit, source)
    if not hits:
        return []
    top_relevance = max(r for _, r in hits) or 1.0
    top_upvotes = math.log1p(max(p.upvotes for p, _ in hits)) or 1.0

    def score(item: tuple[Paper, float]) -> float:
        paper, relevance = item
        age_days = (now - (paper.first_seen_at or now)).total_seconds() / 86400
        return (
            relevance / top_relevance
            + 0.3 * math.log1p(paper.upvotes) / top_upvotes
            + 0.3 * math.exp(-max(age_days, 0) / 7)
        )

    return [p for p, _ in sorted(hits, key=score, reverse=True)[:limit]]


async def _candidates(store: Store, query: Query, limit: int, source: str | None) -> list[tuple[Paper, float]]:
    """``query``'s matches to rank, with their full-text relevance (0 for those found without full text)."""
    found = await bounded(store.search_papers(query.root, SEARCH_CANDIDATES, source))
    exact = store.index_is_exact(query.root)
    newest: list[Paper] = []
    if found is None and (split := categories_or_text(query.root)) is not None:
        # cat:cs.CL OR attention: the newest papers of the categories and the full-text hits, each from its index.
        in_categories, text = split
        found = await bounded(store.search_papers(text, SEARCH_CANDIDATES, source))
        if found is not None:
            newest = await _newest(store, Query(query.text, in_categories), limit, source)
            exact = store.index_is_exact(text)
    if found is None:
        return [(p, 0.0) for p in await _newest(store, query, limit, source)]
    relevance = {p.id: -score for p, score in found}
    papers = list({p.id: p for p in (*newest, *(p for p, _ in found))}.values())
    if not exact:
        papers = await exact_matches(query, papers)
    return [(p, relevance.get(p.id, 0.0)) for p in papers]


async def _newest(store: Store, query: Query, want: int, source: str | None) -> list[Paper]:
    """Up to ``want`` of the newest matches of a query the full-text index cannot narrow."""
    exact = only_categories(query.root)
    found: list[Paper] = []
    last: Paper | None = None
    for _ in range(SEARCH_SCAN // CATEGORY_PAGE):
        if len(found) >= want:
            break
        page = await bounded(store.papers_in_categories(query.root, CATEGORY_PAGE, source, before=last))
        if page is None:  # no category to look up either: the newest papers, all checked
            return await exact_matches(query, await store.latest_papers(SEARCH_SCAN, source))
        found += page if exact else await exact_matches(query, page)
        if len(page) < CATEGORY_PAGE:
            break
        last = page[-1]
    return found[:want]


async def preview(store: Store, query: Query, now: datetime, days: int, shown: int) -> tuple[int, list[Paper]]:
    """How many stored papers first seen in the last ``days`` days match ``query`` (at most
    :data:`PREVIEW_LIMIT`), and the newest ``shown`` of them."""
    check_cost(query)
    since = now - timedelta(days=days)
    if store.index_is_exact(query.root):
        counted = await bounded(store.count_seen_since(since, query.root, PREVIEW_LIMIT))
        if counted is not None:
            newest = await bounded(store.papers_seen_since(since, shown, root=query.root))
            return counted, newest
    found = await matches_since(store, query, since, PREVIEW_LIMIT)
    return len(found), found[:shown]


async def matches_since(store: Store, query: Query, since: datetime, limit: int, min_upvotes: int = 0) -> list[Paper]:
    """Up to ``limit`` of the newest papers first seen since ``since`` (with ``min_upvotes``) that match."""
    check_cost(query)
    if store.index_is_exact(query.root):
        # With a threshold, the newest hits may all fall below it: read as many as a preview counts.
        read = PREVIEW_LIMIT if min_upvotes else limit
        newest = await bounded(store.papers_seen_since(since, read, root=query.root, min_upvotes=min_upvotes))
        return newest[:limit]
    candidates = await bounded(store.papers_seen_since(since, PREVIEW_LIMIT, root=query.root))
    return [p for p in await exact_matches(query, candidates) if p.upvotes >= min_upvotes][:limit]
