"""Search, preview and backfill reads served from the indexes (issue 16.3, issue 11 §3), on a real store of
either driver."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.engine import Engine
from bot.matching import document_for, matches, parse_query
from bot.search import SEARCH_SCAN, QueryTooBroad
from bot.store import Store, categories
from bot.store.fts import category_terms
from tests.conftest import T0, make_paper


@pytest.fixture
async def store(storage_location):
    s = await Store.open(storage_location)
    yield s
    await s.close()


async def test_a_category_search_reads_the_category_index_not_the_newest_papers(store):
    # The one cs.CL paper is older than the newest SEARCH_SCAN papers, which were all a scan used to read.
    old = make_paper(1, title="Old parsing work", categories=("cs.CL",))
    newer = [make_paper(n, title=f"Vision paper {n}", categories=("cs.CV",)) for n in range(2, SEARCH_SCAN + 100)]
    await store.ingest([old], lambda new, recheck: (), T0 - timedelta(days=30))
    await store.ingest(newer, lambda new, recheck: (), T0)
    engine = Engine(store, clock=lambda: T0)
    assert [p.id for p in await engine.search(parse_query("cat:cs.CL"))] == [old.id]
    assert [p.id for p in await engine.search(parse_query("cat:cs.c*"), limit=3)] == [
        newer[-1].id,
        newer[-2].id,
        newer[-3].id,
    ]
    assert await engine.search(parse_query("cat:cs.CL -parsing")) == []
    assert [p.id for p in await engine.search(parse_query("cat:cs.CL OR cat:q-bio.NC"))] == [old.id]
    assert [p.id for p in await engine.search(parse_query("cat:cs.CL"), source="arxiv")] == []
    # An OR of categories and text: each part from its own index (a scan of the newest papers found neither).
    assert [p.id for p in await engine.search(parse_query("cat:q-bio.NC OR parsing"))] == [old.id]
    assert [p.id for p in await engine.search(parse_query("cat:cs.CL OR ti:nowhere"))] == [old.id]
    found = await engine.search(parse_query('cat:cs.CL OR ti:"vision paper 5000" OR abs:nowhere -cat:cs.CL'))
    assert sorted(p.id for p in found) == sorted([old.id, newer[4998].id])


async def test_preview_counts_from_the_index_and_shows_the_newest(store):
    papers = [
        make_paper(n, title=title, categories=cats)
        for n, (title, cats) in enumerate(
            [
                ("Attention sinks", ("cs.CL",)),
                ("Sparse attention", ("cs.LG",)),
                ("A survey of attention", ("cs.CL", "cs.LG")),
                ("Diffusion models", ("cs.CV",)),
                ("Attentive readers", ("cs.CL",)),
            ],
            start=1,
        )
    ]
    for n, paper in enumerate(papers):
        await store.ingest([paper], lambda new, recheck: (), T0 - timedelta(hours=len(papers) - n))
    engine = Engine(store, clock=lambda: T0)
    texts = [
        "ti:attention",
        "ti:attention -survey",
        "cat:cs.CL",
        "cat:cs.*",
        "attention -cat:cs.CL",
        "cat:cs.CL -ti:attention",
        '"attention sinks" OR atten*',
        "cat:cs.CV OR ti:sinks",
        "cat:cs.CV OR attention -survey",
        "cat:cs.c* OR cat:cs.LG OR abs:nowhere",
    ]
    for text in texts:
        query = parse_query(text)
        want = [p.id for p in reversed(papers) if matches(query, document_for(p))]
        count, shown = await engine.preview(query, shown=2)
        assert (count, [p.id for p in shown]) == (len(want), want[:2]), text
        backfill = await engine.backfill_matches(query, 2, min_upvotes=0)
        assert [p.id for p in backfill] == want[:2], text
    assert store.index_is_exact(parse_query("cat:cs.CL").root)
    assert not store.index_is_exact(parse_query("attention -cat:cs.CL").root)
    # Categories OR-ed with text are counted from both indexes, without reading the period's papers.
    either = parse_query("cat:cs.CV OR ti:sinks").root
    assert await store.count_seen_since(T0 - timedelta(days=1), either, 100) == 2
    assert store.index_is_exact(either) is (store._db.dialect.name == "sqlite")


async def test_a_query_with_too_many_prefixes_is_refused_before_it_reaches_the_database(store):
    engine = Engine(store, clock=lambda: T0)
    broad = parse_query(" OR ".join(f"{a}{b}*" for a in "tia" for b in "hon"))  # nine prefixes
    for read in (engine.search(broad), engine.preview(broad), engine.backfill_matches(broad, 3, 0)):
        with pytest.raises(QueryTooBroad, match="9 prefix terms"):
            await read
    assert await engine.search(parse_query(" OR ".join(f"t{b}*" for b in "honeraiu"))) == []  # eight are fine


class _Steps:
    """Counts a SQLite connection's VM steps (in hundreds) as its progress handler."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        self.count += 1
        return 0  # go on


async def _counting_steps(store: Store) -> _Steps:
    steps = _Steps()
    # The searcher's own handler is the time budget; counting instead, every 100 steps.
    await store._db._searcher.connection.set_progress_handler(steps, 100)
    return steps


@pytest.mark.parametrize("storage_location", ["sqlite"], indirect=True)  # it counts SQLite's VM steps
async def test_a_category_page_costs_a_page_however_large_the_category(store):
    steps = await _counting_steps(store)
    cost = {}
    for size, category in ((300, "cs.CL"), (6000, "cs.LG")):
        start = 10_000 if category == "cs.LG" else 0
        papers = [make_paper(start + n, categories=(category,)) for n in range(size)]
        await store.ingest(papers, lambda new, recheck: (), T0)
        steps.count = 0
        page = await store.papers_in_categories(parse_query(f"cat:{category}").root, 250)
        assert page is not None and len(page) == 250
        cost[size] = steps.count
    assert cost[6000] < 2 * cost[300], cost  # not a sort of all 6,000 papers of the large category


async def test_indexes_made_by_another_normalization_are_rebuilt_at_start(storage_location):
    store = await Store.open(storage_location)
    await store.ingest([make_paper(1, title="Eﬃcient serving", categories=("cs.CL",))], lambda n, r: (), T0)
    # As a database from before migration 10, or indexed by another stemmer or Unicode version, would be: the
    # category index empty and the full-text index holding nothing this code would look up.
    async with store._db.transaction() as db:
        await db.execute("DELETE FROM paper_categories")
        await db.execute("UPDATE search_state SET fold_version = 'another'")
        if store._db.dialect.name == "sqlite":
            await db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('delete-all')")
        else:
            await db.execute("UPDATE papers SET fts = CAST('' AS tsvector)")
    assert await store.search_papers(parse_query("efficient").root, 10) == []
    await store.close()
    store = await Store.open(storage_location)
    try:
        found = await store.search_papers(parse_query("efficient").root, 10)
        assert found is not None and [p.id for p, _ in found] == ["2411.00001"]
        in_category = await store.papers_in_categories(parse_query("cat:cs.CL").root, 10)
        assert in_category is not None and [p.id for p in in_category] == ["2411.00001"]
    finally:
        await store.close()


@pytest.mark.parametrize("storage_location", ["sqlite"], indirect=True)  # it counts SQLite's VM steps
async def test_a_category_prefix_page_costs_its_categories_pages_however_large_they_are(store):
    steps = await _counting_steps(store)
    categories = ("cs.CL", "cs.LG", "cs.CV")
    cost = {}
    first = 0
    for size in (260, 2600):  # papers per category, added to those already stored
        papers = [make_paper(first + n, categories=(categories[n % 3], "stat.ML")) for n in range(3 * size)]
        first += len(papers)
        await store.ingest(papers, lambda new, recheck: (), T0 + timedelta(minutes=first))
        steps.count = 0
        page = await store.papers_in_categories(parse_query("cat:cs.*").root, 250)
        assert page is not None and len(page) == 250
        assert [p.id for p in page] == sorted((p.id for p in papers), reverse=True)[:250]
        first_page, steps.count = steps.count, 0
        following = await store.papers_in_categories(parse_query("cat:cs.*").root, 250, before=page[-1])
        assert following is not None and following[0].id == f"2411.{first - 251:05d}"
        cost[size] = (first_page, steps.count)
    # Not a sort of all 8,580 papers of cs.*, and the page after the first costs no more than the first.
    assert cost[2600][0] < 1.5 * cost[260][0], cost
    assert cost[2600][1] < 1.5 * cost[260][0], cost


async def test_category_prefixes_read_the_same_papers_merged_by_category_or_as_a_range(store, monkeypatch):
    # Papers in one, two or three categories, several sharing each first-seen time; categories outside the
    # prefixes whose code points sort among theirs ("cs-x" before "cs.ai", "csa" after "cs.zz").
    names = ("cs.ai", "cs.cl", "cs.cv", "cs-x", "csa", "cs.zz", "stat.ml")
    papers = [make_paper(n, categories=tuple(names[n * k % 7] for k in range(1, 2 + n % 3))) for n in range(1, 140)]
    for n in range(0, len(papers), 20):  # newest first is highest id first
        await store.ingest(papers[n : n + 20], lambda new, recheck: (), T0 - timedelta(hours=len(papers) - n))
    engine = Engine(store, clock=lambda: T0)
    in_categories = {
        "cat:cs.*": lambda c: c.startswith("cs."),
        "cat:cs.c*": lambda c: c.startswith("cs.c"),
        "cat:cs.* OR cat:stat.ML": lambda c: c.startswith("cs.") or c == "stat.ml",
        "cat:cs.c* -cat:cs.cl": lambda c: c.startswith("cs.c"),
        "cat:nothing.*": lambda c: False,
    }

    async def read(text: str) -> tuple[list[str], int, list[str]]:
        query = parse_query(text)
        pages: list[str] = []
        last = None
        while (page := await store.papers_in_categories(query.root, 7, before=last)) is not None and page:
            pages += [p.id for p in page]
            last = page[-1]
        count, shown = await engine.preview(query, shown=5)
        return pages, count, [p.id for p in shown]

    merged = {text: await read(text) for text in in_categories}
    monkeypatch.setattr(categories, "MOST_CATEGORIES", 1)  # every prefix names more: read as index ranges
    as_ranges = {text: await read(text) for text in in_categories}
    newest_first = sorted(papers, key=lambda p: p.id, reverse=True)
    for text, holds in in_categories.items():
        query = parse_query(text)
        want = [p.id for p in newest_first if matches(query, document_for(p))]
        pages = [p.id for p in newest_first if any(holds(c) for c in p.categories)]
        assert merged[text] == as_ranges[text] == (pages, len(want), want[:5]), text


@pytest.mark.parametrize("storage_location", ["postgresql"], indirect=True)  # it reads PostgreSQL's plan
async def test_on_postgresql_a_category_prefix_page_reads_a_page_of_each_category(store):
    names = ("cs.CL", "cs.LG", "cs.CV")
    papers = [make_paper(n, categories=(names[n % 3], "stat.ML")) for n in range(3000)]
    await store.ingest(papers, lambda new, recheck: (), T0)
    # With the statistics autovacuum keeps (a new table has none, and the planner then guesses a small one).
    await store._db.fetchall("ANALYZE paper_categories")
    params: dict[str, object] = {"limit": 250}
    page = await categories.category_hits(
        store._db, category_terms(parse_query("cat:cs.*").root), "", params, limited=True
    )
    (row,) = await store._db.fetchall(f"EXPLAIN (ANALYZE, FORMAT JSON) {page}", params)
    plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]

    def index_rows(node: dict) -> int:
        own = node["Actual Rows"] * node["Actual Loops"] if node.get("Relation Name") == "paper_categories" else 0
        return own + sum(index_rows(child) for child in node.get("Plans", ()))

    # A page of each of the three categories, not the 3,000 index rows of cs.* sorted.
    assert index_rows(plan[0]["Plan"]) <= 3 * 250, plan


@pytest.mark.parametrize("storage_location", ["sqlite"], indirect=True)  # it counts SQLite's VM steps
async def test_a_preview_count_costs_what_it_counts_up_to_not_every_hit(store):
    steps = await _counting_steps(store)
    cost = {}
    for size, first in ((300, 0), (6000, 1000)):  # papers added, all in cs.CL, all saying "attention"
        await store.ingest([make_paper(first + n, categories=("cs.CL",)) for n in range(size)], lambda n, r: (), T0)
        for text in ("cat:cs.*", "cat:cs.CL", "attention"):
            steps.count = 0
            assert await store.count_seen_since(T0 - timedelta(days=1), parse_query(text).root, 250) == 250
            cost[size, text] = steps.count
    for text in ("cat:cs.*", "cat:cs.CL", "attention"):
        assert cost[6000, text] < 2 * cost[300, text], cost  # not a count of all 6,300 hits
