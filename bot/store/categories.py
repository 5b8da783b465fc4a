"""Reading the category index newest first, for category terms and prefixes, without sorting a whole category.

``paper_categories`` is ordered by (category, first seen, paper): one category's newest papers are the end of
its run of the index, so a page of them costs a page. A prefix (``cat:cs.*``) spans the runs of many categories;
sorting every entry of the span cost a sort of most of the table once ``cs.*`` held most papers (0.2–0.7 s at
100k papers, near the searcher's 0.75 s budget). So a prefix is first resolved to the stored categories it
names — a skip through the index, one seek per distinct category — and a page is the merge of each category's
own newest page. A prefix naming more than :data:`MOST_CATEGORIES` categories (only generic feeds' free-form
tags could) is read as a range and sorted, within the searcher's time budget.

Both drivers compare categories by code point (PostgreSQL's column has the "C" collation since migration 11),
so a prefix is a range of the index.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.matching.nodes import Term
from bot.store.connection import AnyDatabase

MOST_CATEGORIES = 64  # stored categories one search resolves its prefixes to before reading a range instead

_LAST_CODE_POINT = "\U0010ffff"

# The distinct stored categories in [:c, :e), smallest first: each step one seek for the next larger one.
_NAMED_BY_PREFIX = """
    WITH RECURSIVE named(category) AS (
        SELECT (SELECT MIN(category) FROM paper_categories WHERE category >= :c AND category < :e)
        UNION ALL
        SELECT (SELECT MIN(category) FROM paper_categories WHERE category > named.category AND category < :e)
        FROM named WHERE named.category IS NOT NULL
    )
    SELECT category FROM named WHERE category IS NOT NULL LIMIT :most"""

_NEWEST_FIRST = "ORDER BY first_seen_at DESC, paper_id DESC"


async def _named_categories(db: AnyDatabase, terms: Sequence[Term]) -> list[str] | None:
    """The stored categories ``terms`` name (exact terms as they are, prefixes as the stored categories starting
    with them), read on the searcher; None when they name more than :data:`MOST_CATEGORIES`."""
    named = {term.tokens[0]: None for term in terms if not term.prefix}
    for term in terms:
        if term.prefix:
            prefix = term.tokens[0]
            params = {"c": prefix, "e": prefix + _LAST_CODE_POINT, "most": MOST_CATEGORIES + 1}
            named.update((row["category"], None) for row in await db.search_fetchall(_NAMED_BY_PREFIX, params))
        if len(named) > MOST_CATEGORIES:
            return None
    return list(named)


async def category_hits(
    db: AnyDatabase, terms: Sequence[Term], condition: str, params: dict[str, object], limited: bool
) -> str:
    """A subquery of the (first_seen_at, paper_id) of the papers in the categories ``terms`` name whose index rows
    meet ``condition`` (an `` AND ...`` on ``paper_categories``) — the newest ``:limit`` of them, newest first,
    when ``limited`` — adding its parameters to ``params``."""
    categories = await _named_categories(db, terms)
    if categories is None:
        where, named = _category_range(terms)
        params.update(named)
    else:
        params.update({f"k{number}": category for number, category in enumerate(categories)})
        if limited and categories:
            return _merged_pages(len(categories), condition)
        where = " OR ".join(f"category = :k{number}" for number in range(len(categories))) or "0 = 1"
    hits = f"SELECT DISTINCT first_seen_at, paper_id FROM paper_categories WHERE ({where}){condition}"
    return hits + (f" {_NEWEST_FIRST} LIMIT :limit" if limited else "")


def _merged_pages(count: int, condition: str) -> str:
    """The newest ``:limit`` index rows of the ``count`` categories ``:k0``, … meeting ``condition``.

    Each category's newest page is read off the index in its own order and the pages are merged (UNION: a paper
    in two of the categories is one row), so a page costs ``count`` pages however large the categories are."""
    pages = (
        f"SELECT * FROM (SELECT first_seen_at, paper_id FROM paper_categories WHERE category = :k{number}{condition} "
        f"{_NEWEST_FIRST} LIMIT :limit) page{number}"
        for number in range(count)
    )
    return " UNION ".join(pages) + f" {_NEWEST_FIRST} LIMIT :limit"


def _category_range(terms: Sequence[Term]) -> tuple[str, dict[str, object]]:
    """A condition on ``paper_categories.category`` holding for the categories ``terms`` name (exact terms by
    equality, prefixes as ranges of the index), and its parameters."""
    parts: list[str] = []
    params: dict[str, object] = {}
    for number, term in enumerate(terms):
        params[f"c{number}"] = term.tokens[0]
        if term.prefix:
            params[f"e{number}"] = term.tokens[0] + _LAST_CODE_POINT
            parts.append(f"(category >= :c{number} AND category < :e{number})")
        else:
            parts.append(f"category = :c{number}")
    return " OR ".join(parts), params
