"""User searches run on their own connection with a time budget (issue 16.2), on both drivers: a costly search is
stopped with SearchTooCostly, and while it runs the bot's own reads (the sender's outbox, commands) are not held
up."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.store import Store
from bot.store.search_budget import SearchTooCostly

# About fifty million rows of a recursive count: many seconds of database work, whatever is stored.
COSTLY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) SELECT COUNT(*) AS n FROM c"
)


async def test_a_costly_search_is_stopped_at_its_budget(store):
    started = time.monotonic()
    with pytest.raises(SearchTooCostly):
        await store._db.search_fetchall(COSTLY, budget=0.2)
    assert time.monotonic() - started < 5  # stopped, not run to the end
    rows = await store._db.search_fetchall("SELECT 1 AS one")  # the searcher is usable again
    assert rows[0]["one"] == 1


async def test_a_cheap_search_is_answered_however_late_it_runs(tmp_path):
    """On a loaded machine a cheap statement can outlast the budget waiting for a core: it is not too broad.
    (SQLite's searcher: PostgreSQL's statement_timeout counts on the server, where the statement runs.)"""
    store = await Store.open(str(tmp_path / "t.db"))
    cheap = COSTLY.replace("50000000", "10000")
    rows = await store._db.search_fetchall(cheap, budget=-1.0)  # its budget spent before it even ran
    await store.close()
    assert rows[0]["n"] == 10000


async def test_the_bot_s_reads_do_not_wait_for_a_running_search(store):
    search = asyncio.create_task(store._db.search_fetchall(COSTLY, budget=60))
    await asyncio.sleep(0.3)  # the search is running on the searcher
    assert not search.done()
    async with asyncio.timeout(10):
        assert await store.outbox_depth() == 0  # the sender's read, on the reader connection (or the pool)
        assert await store.count_papers() == 0
    assert not search.done(), "the bot's reads waited for the whole search"
    search.cancel()  # a cancelled search stops its statement too
    with pytest.raises(asyncio.CancelledError):
        await search
    async with asyncio.timeout(5):
        assert (await store._db.search_fetchall("SELECT 1 AS one"))[0]["one"] == 1
