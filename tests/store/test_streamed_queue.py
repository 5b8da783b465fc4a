"""A plan streamed into the outbox (issue 14 §4): chunks of each paper's subscriptions, queued as they come inside
ingest's transaction, on both drivers — bounded statements, exactly once, and all or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from bot.models import Paper, Schedule, Scope
from bot.store import outbox
from bot.store.outbox import Matched
from tests.conftest import T0, make_paper


async def _subs(store, count: int, **kwargs):
    return [
        await store.add_subscription(
            scope=Scope.GUILD, guild_id=1, channel_id=10 + n, user_id=5, query="attention", now=T0, **kwargs
        )
        for n in range(count)
    ]


async def _all_rows(store) -> set[tuple[int, str, str]]:
    rows = await store._db.fetchall("SELECT subscription_id, paper_id, status FROM deliveries")
    return {(r["subscription_id"], r["paper_id"], r["status"]) for r in rows}


async def test_streamed_chunks_are_queued_once_each(store):
    subs = await _subs(store, 6)
    digest = (await _subs(store, 1, schedule=Schedule.DAILY))[0]
    ids = [s.id for s in subs] + [digest.id]
    handed: list[int] = []

    async def streamed(new: Sequence[Paper], recheck: Sequence[Paper]) -> AsyncIterator[Matched]:
        for paper in new:
            handed.append(len(await _all_rows(store)))  # what was queued before this paper's first chunk
            yield {paper.id: [*ids, 999_999]}  # a subscription that does not exist is skipped
            yield {paper.id: ids[:2]}  # a pair streamed twice is queued once

    result = await store.ingest([make_paper(1), make_paper(2)], streamed, T0)
    assert result.queued == 14
    assert handed == [0, 0]  # the reader sees nothing before the commit (it is one transaction) ...
    rows = await _all_rows(store)  # ... and everything after it, digest rows held for the digest
    assert rows == {(s, p, "held" if s == digest.id else "pending") for s in ids for p in ("2411.00001", "2411.00002")}


async def test_a_stream_that_fails_midway_stores_nothing_and_a_retry_queues_everything_once(store):
    subs = await _subs(store, 3)

    async def failing(new: Sequence[Paper], recheck: Sequence[Paper]) -> AsyncIterator[Matched]:
        yield {new[0].id: [s.id for s in subs]}
        raise RuntimeError("the planner died after the first chunk")

    with pytest.raises(RuntimeError):
        await store.ingest([make_paper(1), make_paper(2)], failing, T0)
    assert await store.get_paper("2411.00001") is None and await _all_rows(store) == set()

    async def whole(new: Sequence[Paper], recheck: Sequence[Paper]) -> AsyncIterator[Matched]:
        yield {paper.id: [s.id for s in subs] for paper in new}

    assert (await store.ingest([make_paper(1), make_paper(2)], whole, T0)).queued == 6
    assert (await store.ingest([make_paper(1), make_paper(2)], whole, T0)).queued == 0  # nothing is new now
    assert len(await _all_rows(store)) == 6


async def test_keys_given_at_once_are_queued_in_bounded_chunks(store, monkeypatch):
    monkeypatch.setattr(outbox, "QUEUE_CHUNK", 3)  # 10 keys then take four statements
    subs = await _subs(store, 5)
    keys = [(s.id, p) for p in ("2411.00001", "2411.00002") for s in subs]
    assert (await store.ingest([make_paper(1), make_paper(2)], lambda new, recheck: keys, T0)).queued == 10
    assert {(s, p) for s, p, _ in await _all_rows(store)} == set(keys)
