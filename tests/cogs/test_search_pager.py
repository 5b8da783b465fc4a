"""The ``/papers search`` pager keeps ids, not papers, and a bounded number of pagers stay live (issue 16.13)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

from bot.cogs import papers as papers_cog
from bot.cogs.papers import SearchPager
from bot.models import Paper
from bot.store import Store


def _paper(n: int) -> Paper:
    return Paper(
        id=f"2611.{n:05d}",
        title=f"Paper {n} " + "long title words " * 10,
        abstract="An abstract sentence that goes on. " * 60,
        authors=tuple(f"Author {k}" for k in range(12)),
        source="huggingface",
        first_seen_at=datetime(2026, 11, 2, tzinfo=UTC),
    )


async def test_a_pager_holds_ids_and_reads_each_page_from_the_store(tmp_path):
    store = await Store.open(str(tmp_path / "p.db"))
    try:
        papers = [_paper(n) for n in range(100)]
        await store.ingest(papers, lambda new, recheck: (), datetime(2026, 11, 2, tzinfo=UTC))
        ids = [p.id for p in papers]
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        pager = SearchPager(1, "Search: `x`", ids, store)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert held < 32 * 1024, f"one pager of 100 results holds {held:,} bytes"
        assert not any(isinstance(value, Paper) for value in vars(pager).values())
        pager.page = 19
        shown = await pager.embeds()
        assert [e.footer.text.split("arXiv ")[-1] for e in shown] == ids[95:]
        async with store._db.transaction() as db:  # retention may delete a paper between two clicks
            await db.execute("DELETE FROM papers WHERE id = :id", {"id": ids[97]})
        assert len(await pager.embeds()) == 4
    finally:
        await store.close()


async def test_the_oldest_pagers_are_retired_past_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(papers_cog, "MAX_LIVE_PAGERS", 3)
    monkeypatch.setattr(SearchPager, "_live", type(SearchPager._live)())
    store = await Store.open(str(tmp_path / "p.db"))
    try:
        pagers = [SearchPager(n, "Search", ["2611.00001"], store) for n in range(5)]
        assert [p.is_finished() for p in pagers] == [True, True, False, False, False]
        assert len(SearchPager._live) == 3
        pagers[2].stop()
        assert len(SearchPager._live) == 2
    finally:
        await store.close()
