"""Retention in the store: what pruning removes and keeps, ids remembered forever, space given back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest

from bot.matching import parse_query
from bot.models import DeliveryStatus, Scope
from bot.ops.maintenance import run_maintenance
from bot.store import Store
from bot.store.migrations import MIGRATIONS
from tests.conftest import T0, make_paper


def _plan_all(sub_ids):
    return lambda new, recheck: [(s, p.id) for p in new for s in sub_ids]


async def _fts_rows(store: Store, word: str) -> int:
    """Papers the full-text index finds for ``word`` (on either driver: FTS5's table, PostgreSQL's column)."""
    found = await store.search_papers(parse_query(word).root, limit=10_000)
    assert found is not None
    return len(found)


async def _category_rows(store: Store) -> int:
    """Rows of the category index (read as a table: a lookup joined with papers would hide orphans)."""
    row = await store._db.fetchone("SELECT COUNT(*) AS n FROM paper_categories")
    assert row is not None
    return int(row["n"])


async def test_prune_removes_old_settled_papers_and_keeps_what_still_waits(store: Store):
    instant = await store.add_subscription(scope=Scope.GUILD, guild_id=1, channel_id=10, user_id=5, query="x", now=T0)
    await store.ingest([make_paper(n, categories=("cs.CL", "cs.LG")) for n in range(1, 5)], _plan_all([instant.id]), T0)
    await store.mark_sent([(instant.id, "2411.00001"), (instant.id, "2411.00002")], 77, T0)
    await store.mark_failed([(instant.id, "2411.00003")], "gave up")
    # 2411.00004 stays pending (say its channel is paused): it must survive retention until it is delivered.
    await store.ingest([make_paper(9)], _plan_all([]), T0 + timedelta(days=20))
    assert await _fts_rows(store, "attention") == 5
    assert await _category_rows(store) == 8

    pruned = await store.prune_papers(T0 + timedelta(days=10), limit=2)
    assert pruned == 2  # a batch at a time
    assert await store.prune_papers(T0 + timedelta(days=10), limit=100) == 1
    assert await store.prune_papers(T0 + timedelta(days=10), limit=100) == 0
    remaining = {p.id for p in await store.latest_papers(10)}
    assert remaining == {"2411.00004", "2411.00009"}
    assert await _fts_rows(store, "attention") == 2  # the full-text rows went with the papers
    assert await _category_rows(store) == 2  # and so did their category-index rows
    assert await store.delivery_record(instant.id, "2411.00001") is None
    record = await store.delivery_record(instant.id, "2411.00004")
    assert record is not None and record.status is DeliveryStatus.PENDING
    stats = await store.storage_stats()
    assert stats.papers == 2 and stats.seen_ids == 5 and stats.oldest_paper == T0


async def test_a_pruned_paper_listed_again_is_not_new(store: Store):
    sub = await store.add_subscription(scope=Scope.USER, user_id=5, query="x", now=T0)
    await store.ingest([make_paper(1)], _plan_all([sub.id]), T0)
    await store.mark_sent([(sub.id, "2411.00001")], 1, T0)
    assert await store.prune_papers(T0 + timedelta(days=1), 100) == 1
    again = await store.ingest([make_paper(1, upvotes=50), make_paper(2)], _plan_all([sub.id]), T0 + timedelta(days=2))
    assert [p.id for p in again.new_papers] == ["2411.00002"] and again.queued == 1
    assert await store.delivery_record(sub.id, "2411.00001") is None  # nothing queued for it again


async def test_maintenance_switches_an_old_database_to_incremental_vacuum_and_shrinks_it(tmp_path):
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:  # made before auto_vacuum was set
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        db.execute(
            "INSERT INTO papers (id, title, abstract, source, first_seen_at, updated_at) "
            "VALUES ('2401.00001', 'old', 'old', 'huggingface', '2026-01-01', '2026-01-01')"
        )
    store = await Store.open(str(path))
    try:
        assert (await store.storage_stats()).seen_ids == 1  # the migration remembered the ids already stored
        assert not await store.incremental_vacuum_enabled()
        big = [make_paper(n, abstract="words about attention " * 200) for n in range(10, 400)]
        await store.ingest(big, _plan_all([]), T0)
        first = await run_maintenance(store, T0 + timedelta(days=1), keep_days=0)
        assert first.vacuumed and first.pruned == 0 and await store.incremental_vacuum_enabled()
        second = await run_maintenance(store, T0 + timedelta(days=200), keep_days=180)
        assert not second.vacuumed and second.pruned == 391
        assert second.bytes_after < second.bytes_before / 3, second
        assert (await store.storage_stats()).free_bytes == 0
    finally:
        await store.close()


async def test_maintenance_stops_between_batches_when_asked(store: Store):
    await store.ingest([make_paper(n) for n in range(1, 30)], _plan_all([]), T0)
    calls = []

    def stop_after_first_batch() -> bool:
        calls.append(1)
        return len(calls) > 1

    result = await run_maintenance(store, T0 + timedelta(days=400), 180, should_stop=stop_after_first_batch, batch=10)
    assert result.pruned == 10 and (await store.storage_stats()).papers == 19


async def _fts_bytes(store: Store) -> int:
    row = await store._db.fetchone("SELECT SUM(pgsize) AS n FROM dbstat WHERE name = 'papers_fts_data'")
    return int(row["n"])


async def test_maintenance_merges_the_full_text_index_so_pruned_entries_leave_it(store: Store):
    if store._db.dialect.name != "sqlite":
        pytest.skip("FTS5's segments are SQLite's: on PostgreSQL the search vector is a column of the paper's row")
    for day in range(8):  # many small segments, as a day of polls makes
        batch = [make_paper(day * 100 + n, abstract="words about attention sinks " * 40) for n in range(1, 60)]
        await store.ingest(batch, _plan_all([]), T0 + timedelta(days=day))
    full = await _fts_bytes(store)
    result = await run_maintenance(store, T0 + timedelta(days=187), keep_days=180)
    assert result.pruned == 59 * 7
    # Deleting alone only adds tombstones; merged, the index holds about the one day that is kept.
    assert await _fts_bytes(store) < full / 3, (full, await _fts_bytes(store))
    assert await _fts_rows(store, "attention") == 59
