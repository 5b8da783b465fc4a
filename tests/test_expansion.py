"""The background expansion (issue 14 §4): it keeps the outbox's waiting rows under its bound, expands a chunk anyway
when the outbox stays full, runs only on the leader, and as a task is woken, reports what it queued and stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np

from bot import expansion
from bot.expansion import Expansion
from bot.models import Paper, Scope
from bot.store import matches
from bot.store.coordination import Coordination
from bot.store.matches import CompactMatches
from tests.conftest import T0, make_paper

SUBS, PAPERS = 6, 5


async def _compact_day(store) -> list[int]:
    """SUBS instant subscriptions, each matching PAPERS papers, all kept compact."""
    ids = [
        (
            await store.add_subscription(
                scope=Scope.GUILD, user_id=1, query="attention", now=T0, guild_id=1, channel_id=100 + n
            )
        ).id
        for n in range(SUBS)
    ]

    async def compact(new: Sequence[Paper], recheck: Sequence[Paper]) -> AsyncIterator[CompactMatches]:
        yield CompactMatches({paper.id: np.array(ids, dtype=np.int64) for paper in new})

    await store.ingest([make_paper(n) for n in range(1, PAPERS + 1)], compact, T0)
    return ids


async def _waiting_keys(store) -> list[tuple[int, str]]:
    rows = await store._db.fetchall("SELECT subscription_id, paper_id FROM deliveries WHERE status = 'pending'")
    return [(r["subscription_id"], r["paper_id"]) for r in rows]


async def test_expansion_keeps_the_waiting_rows_under_its_bound(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 0)
    await _compact_day(store)
    expanding = Expansion(store, pending_bound=8)
    assert await expanding.expand() == 8
    assert await expanding.expand() == 0  # full: it waits for the sender
    await store.mark_sent((await _waiting_keys(store))[:5], 1, T0)
    assert await expanding.expand() == 5
    assert len(await _waiting_keys(store)) == 8


async def test_an_outbox_that_stays_full_still_gets_a_chunk_now_and_then(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 0)
    monkeypatch.setattr(expansion, "QUEUE_CHUNK", 3)
    monkeypatch.setattr(expansion, "STALLED_SECONDS", 0.2)
    await _compact_day(store)
    expanding = Expansion(store, pending_bound=3)
    assert await expanding.expand() == 3
    assert await expanding.expand() == 0  # nothing sent: full, and not for long yet
    await asyncio.sleep(0.3)
    assert await expanding.expand() == 3  # full too long (its target's process is down, say): one chunk anyway
    assert await expanding.expand() == 0


class _Follower(Coordination):
    clustered = True

    async def is_leader(self) -> bool:
        return False


async def test_only_the_leader_expands(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 0)
    await _compact_day(store)
    monkeypatch.setattr(store, "coordination", _Follower())
    assert await Expansion(store).expand() == 0
    assert await store.outbox_depth() == SUBS * PAPERS  # all still compact


async def test_the_task_expands_when_woken_reports_it_and_stops(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 0)
    monkeypatch.setattr(expansion, "QUEUE_CHUNK", 4)
    told = asyncio.Event()
    expanding = Expansion(store, on_expanded=told.set, idle_seconds=60)
    expanding.start()
    try:
        await _compact_day(store)
        expanding.wake()
        await asyncio.wait_for(told.wait(), 10)
        for _ in range(200):
            if len(await _waiting_keys(store)) == SUBS * PAPERS:
                break
            await asyncio.sleep(0.05)
        assert len(await _waiting_keys(store)) == SUBS * PAPERS
    finally:
        await expanding.stop(grace=5)
    assert expanding._task is not None and expanding._task.done()
