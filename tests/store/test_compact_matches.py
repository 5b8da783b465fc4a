"""Compact matches (issue 14 §4), on both drivers: a big poll's plain matches are stored packed per paper in the
ingest transaction and expanded into outbox rows in the background — exactly the pairs the all-at-once plan gives,
once each across failures and restarts — while digests, "why (not) posted?", retention and the outbox depth see the
pairs still compact."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine import Engine
from bot.matching import parse_query
from bot.models import Owner, Schedule, SubscriptionStatus
from bot.store import Store, matches
from bot.store.matches import pack_ids, unpack_ids
from tests.conftest import T0, make_paper

GUILD = Owner.guild(1)
SUBS = 12
PAPERS = 6


@given(st.lists(st.integers(1, 2**62), min_size=1, max_size=300, unique=True))
def test_packed_ids_read_back_as_they_were(ids):
    packed = np.array(sorted(ids), dtype=np.int64)
    assert unpack_ids(pack_ids(packed)).tolist() == packed.tolist()


def test_dense_ids_take_a_byte_each():
    ids = np.arange(1, 100_001, 3, dtype=np.int64)
    assert len(pack_ids(ids)) == len(ids) + 8  # one byte per gap, plus a header and the first id


async def _engine(store: Store, schedules: dict[int, Schedule] | None = None) -> tuple[Engine, list[int]]:
    """An engine with SUBS subscriptions to "attention" (subscription n on ``schedules.get(n)``, else instant)."""
    engine = Engine(store, clock=lambda: T0)
    await engine.load()
    ids = []
    for n in range(SUBS):
        sub, _ = await engine.add_subscription(
            owner=GUILD,
            user_id=5,
            query=parse_query("attention"),
            channel_id=100 + n,
            schedule=(schedules or {}).get(n, Schedule.INSTANT),
        )
        ids.append(sub.id)
    return engine, ids


def _papers(first: int = 1, count: int = PAPERS):
    return [make_paper(n, title=f"Attention study {n}") for n in range(first, first + count)]


async def _ingest(engine: Engine, papers, when=T0):
    async with engine.planner.reading():
        return await engine.store.ingest(papers, engine.planner.listing(None), when)


async def _rows(store: Store) -> list[tuple[int, str, str, str]]:
    rows = await store._db.fetchall("SELECT subscription_id, paper_id, status, created_at FROM deliveries")
    return sorted((r["subscription_id"], r["paper_id"], r["status"], r["created_at"]) for r in rows)


async def _compact_rows(store: Store) -> int:
    row = await store._db.fetchone("SELECT COUNT(*) AS n FROM paper_matches")
    return int(row["n"])


async def _expand_all(store: Store, most: int = 5) -> int:
    taken = 0
    while chunk := await store.expand_matches(most):
        assert chunk <= most
        taken += chunk
    return taken


async def test_a_poll_with_few_pairs_is_queued_at_once(store):
    engine, _ = await _engine(store)
    result = await _ingest(engine, _papers())
    assert (result.queued, result.compacted) == (SUBS * PAPERS, 0)
    assert await _compact_rows(store) == 0 and len(await _rows(store)) == SUBS * PAPERS


async def test_a_big_poll_is_kept_compact_and_expanded_into_exactly_the_planned_pairs(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    engine, ids = await _engine(store, {3: Schedule.DAILY})
    papers = _papers()
    result = await _ingest(engine, papers)
    assert (result.queued, result.compacted) == (0, SUBS * PAPERS)
    assert await _rows(store) == [] and await _compact_rows(store) == PAPERS
    assert await store.outbox_depth() == SUBS * PAPERS  # compact pairs count as waiting

    assert await _expand_all(store) == SUBS * PAPERS
    planned = engine.plan(papers)  # the all-at-once plan, which writes nothing
    assert [(s, p) for s, p, _, _ in await _rows(store)] == sorted(planned)
    assert {(s, status) for s, _, status, _ in await _rows(store)} == {
        (s, "held" if s == ids[3] else "pending") for s in ids
    }
    assert {created for *_, created in await _rows(store)} == {T0.isoformat(timespec="microseconds")}
    assert await _compact_rows(store) == 0  # fully expanded rows are gone
    assert await store.outbox_depth() == (SUBS - 1) * PAPERS


async def test_a_chunk_spanning_more_compact_rows_than_one_read_takes_them_all_in_order(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    monkeypatch.setattr(matches, "HEAD_PAGE", 2)  # the compact rows are read two at a time
    engine, _ = await _engine(store)
    papers = _papers()
    await _ingest(engine, papers)
    assert await store.expand_matches(SUBS * PAPERS + 1) == SUBS * PAPERS  # every row in one chunk
    assert [(s, p) for s, p, _, _ in await _rows(store)] == sorted(engine.plan(papers))
    assert await _compact_rows(store) == 0


async def test_expansion_goes_oldest_paper_first_keeping_each_ingest_time(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    engine, _ = await _engine(store)
    later = T0 + timedelta(hours=1)
    await _ingest(engine, _papers(50, 2), later)  # a later poll of papers with lower ids ...
    await _ingest(engine, _papers(1, 2), T0)
    taken = await store.expand_matches(SUBS + 3)  # ... waits for the earlier poll's papers
    assert taken == SUBS + 3
    rows = await _rows(store)
    assert {(p, created) for _, p, _, created in rows} == {
        ("2411.00001", T0.isoformat(timespec="microseconds")),
        ("2411.00002", T0.isoformat(timespec="microseconds")),
    }
    assert sorted(s for s, p, _, _ in rows if p == "2411.00002") == sorted(range(1, 4))  # in subscription order
    await _expand_all(store)
    assert {created for *_, created in await _rows(store)} == {
        T0.isoformat(timespec="microseconds"),
        later.isoformat(timespec="microseconds"),
    }


async def test_a_failed_expansion_and_a_restart_lose_and_duplicate_nothing(storage_location, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    store = await Store.open(storage_location)
    engine, _ = await _engine(store)
    papers = _papers()
    await _ingest(engine, papers)
    planned = sorted(engine.plan(papers))
    assert await store.expand_matches(7) == 7
    queue_matched = matches.queue_matched

    async def dying(db, matched, now, hold=True):
        await queue_matched(db, matched, now, hold)  # the rows are written ...
        raise ConnectionError("the database went away mid-chunk")  # ... and the transaction dies

    monkeypatch.setattr(matches, "queue_matched", dying)
    with pytest.raises(ConnectionError):
        await store.expand_matches(7)
    monkeypatch.setattr(matches, "queue_matched", queue_matched)
    assert len(await _rows(store)) == 7  # rolled back: cursor and rows as they were
    await store.close()

    store = await Store.open(storage_location)  # a restart resumes from the cursors
    try:
        assert await _expand_all(store, 7) == SUBS * PAPERS - 7
        assert [(s, p) for s, p, _, _ in await _rows(store)] == planned
    finally:
        await store.close()


async def test_a_due_digest_gets_its_compact_pairs_first_and_the_bulk_expansion_skips_them(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    monkeypatch.setattr(matches, "SCAN_PAGE", 4)  # the scan goes page by page
    engine, ids = await _engine(store, {5: Schedule.DAILY, 9: Schedule.WEEKLY})
    papers = _papers()
    await _ingest(engine, papers)
    assert await store.held_deliveries(ids[5]) == []
    assert await store.expand_matches_for([ids[5], ids[9]]) == 2 * PAPERS
    held = await store.held_deliveries(ids[5])
    assert sorted(d.paper.id for d in held) == [p.id for p in papers]
    assert len(await _rows(store)) == 2 * PAPERS and await _compact_rows(store) == PAPERS
    assert await _expand_all(store) == SUBS * PAPERS  # every pair taken once more ...
    assert len(await _rows(store)) == SUBS * PAPERS  # ... written once


async def test_explain_reports_a_compact_pair_as_queued_or_waiting_for_the_digest(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    engine, ids = await _engine(store, {2: Schedule.DAILY})
    await _ingest(engine, _papers())
    paper = await store.get_paper("2411.00003")
    instant, daily = (await store.get_subscription(GUILD, ids[0])), (await store.get_subscription(GUILD, ids[2]))
    assert (await engine.explain(paper, instant)).reason == "queued: it will be posted within seconds"
    assert (await engine.explain(paper, daily)).reason == "waiting for the daily digest"
    await _expand_all(store)
    assert (await engine.explain(paper, instant)).reason == "queued: it will be posted within seconds"


async def test_compact_matches_keep_their_paper_from_retention_and_skip_removed_subscriptions(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    engine, ids = await _engine(store)
    await _ingest(engine, _papers())
    assert await store.prune_papers(T0 + timedelta(days=400), limit=100) == 0  # still to be delivered
    await store.set_subscription_status(GUILD, ids[0], SubscriptionStatus.REMOVED)
    await _expand_all(store)
    assert {s for s, *_ in await _rows(store)} == set(ids[1:])  # the removed subscription gets nothing
    keys = [(s, p) for s, p, _, _ in await _rows(store)]
    await store.mark_sent(keys, 77, T0)
    assert await store.prune_papers(T0 + timedelta(days=400), limit=100) == PAPERS


async def test_special_pairs_are_queued_at_once_beside_the_compact_ones(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 10)
    engine, _ = await _engine(store)
    threshold, _ = await engine.add_subscription(
        owner=GUILD, user_id=5, query=parse_query("attention"), channel_id=99, min_upvotes=3
    )
    papers = [make_paper(n, title=f"Attention study {n}", upvotes=5) for n in range(1, PAPERS + 1)]
    result = await _ingest(engine, papers)
    assert (result.queued, result.compacted) == (PAPERS, SUBS * PAPERS)  # the threshold reached: rows at once
    assert {s for s, *_ in await _rows(store)} == {threshold.id}
    await _expand_all(store)
    assert [(s, p) for s, p, _, _ in await _rows(store)] == sorted(engine.plan(papers))
