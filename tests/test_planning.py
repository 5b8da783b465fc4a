"""Planning off the event loop (issue 11 §3, issue 14 §4): matching runs in worker threads, a slice of papers per
call, and each slice's pairs are streamed as each paper's sorted subscription ids; changes to the index asked
for meanwhile wait for the threads, and a subscription removed while a plan streams gets nothing more from it."""

from __future__ import annotations

import asyncio
import threading

from bot import planning
from bot.engine import Engine
from bot.matching import parse_query
from bot.models import Owner
from bot.store.matches import CompactMatches
from tests.conftest import T0, make_paper

GUILD = Owner.guild(1)


async def _engine_with(store, count: int) -> tuple[Engine, list[int]]:
    engine = Engine(store, clock=lambda: T0)
    await engine.load()
    ids = []
    for n in range(count):
        sub, _ = await engine.add_subscription(
            owner=GUILD, user_id=5, query=parse_query("attention"), channel_id=10 + n
        )
        ids.append(sub.id)
    return engine, ids


async def test_a_listing_is_matched_in_worker_threads_a_slice_at_a_time_and_streamed_a_slice_at_a_time(
    store, monkeypatch
):
    monkeypatch.setattr(planning, "PLAN_SLICE", 4)
    engine, ids = await _engine_with(store, 5)
    index = engine.index
    calls: list[tuple[int, bool]] = []  # (papers matched, on the event loop's thread?)
    match_papers = index.match_papers

    def spying(papers):
        calls.append((len(papers), threading.current_thread() is threading.main_thread()))
        return match_papers(papers)

    monkeypatch.setattr(index, "match_papers", spying)
    papers = [make_paper(n, title=f"Attention study {n}") for n in range(1, 11)]
    async with engine.planner.reading():
        chunks = [chunk async for chunk in engine.planner.listing(None)(papers, ())]
    assert calls == [(4, False), (4, False), (2, False)]
    # Each slice's plain matches as one compact chunk: each paper's subscription ids, sorted, as NumPy arrays.
    assert all(isinstance(chunk, CompactMatches) for chunk in chunks)
    assert [{p: ids.tolist() for p, ids in chunk.by_paper.items()} for chunk in chunks] == [
        {p.id: ids for p in part} for part in (papers[0:4], papers[4:8], papers[8:10])
    ]


async def test_changes_wait_for_the_threads_and_a_subscription_removed_while_streaming_gets_no_more(store, monkeypatch):
    monkeypatch.setattr(planning, "PLAN_SLICE", 1)  # a chunk per paper
    engine, (kept, removed) = await _engine_with(store, 2)
    papers = [make_paper(n, title=f"Attention study {n}") for n in range(1, 4)]
    async with engine.planner.reading():
        stream = engine.planner.listing(None)(papers, ())
        first = await anext(stream)
        adding = asyncio.create_task(
            engine.add_subscription(owner=GUILD, user_id=5, query=parse_query("attention"), channel_id=99)
        )
        engine.forget_subscriptions([removed])  # the sender pausing a target: it cannot wait
        await asyncio.sleep(0.2)
        assert not adding.done()  # an add waits until the index is no longer read ...
        assert removed in engine.index  # ... and a removal is held until then
        rest = [chunk async for chunk in stream]
    added, _ = await adding
    assert removed not in engine.index and added.id in engine.index
    assert [{p: ids.tolist() for p, ids in chunk.by_paper.items()} for chunk in (first, *rest)] == [
        {papers[0].id: [kept, removed]},
        {papers[1].id: [kept]},
        {papers[2].id: [kept]},
    ]


async def test_a_poll_queues_what_the_streamed_plan_gives_exactly_once(store):
    engine, ids = await _engine_with(store, 3)
    papers = [make_paper(n, title=f"Attention study {n}") for n in range(1, 6)]
    planner = engine.planner.listing(None)
    async with engine.planner.reading():
        result = await store.ingest(papers, planner, T0)
        again = await store.ingest(papers, planner, T0)
    assert (result.queued, again.queued) == (15, 0)
    assert engine.plan(papers) == [(sub_id, p.id) for p in papers for sub_id in ids]


async def test_stored_queries_are_indexed_in_worker_threads_at_start(store, monkeypatch):
    _, ids = await _engine_with(store, 3)
    restarted = Engine(store, clock=lambda: T0)
    threads: list[bool] = []  # per subscription indexed: on the event loop's thread?
    add_stored = restarted.index.add_stored

    def spying(subscription_id, text, compiled):
        threads.append(threading.current_thread() is threading.main_thread())
        return add_stored(subscription_id, text, compiled)

    monkeypatch.setattr(restarted.index, "add_stored", spying)
    await restarted.load()
    assert threads == [False, False, False]
    assert all(sub_id in restarted.index for sub_id in ids)
