"""Discord and source failures during delivery: nothing lost, nothing doubled, only the broken target paused."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.e2e.conftest import World, arxiv_ids, today
from tests.e2e.test_subscriptions import QUERY, expected_ids

POSTS = r"/channels/\d+/messages"


async def _subscribed(world: World, items, *queries: str) -> None:
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    for query in queries or (QUERY,):
        await world.subscriptions("add", query=query)


async def test_rate_limit_and_server_errors_are_retried_without_duplicates(world: World, items):
    await _subscribed(world, items)
    world.emulator.fail_next("POST", POSTS, status=429, retry_after=0.2)
    world.emulator.fail_next("POST", POSTS, status=502)
    world.hf.publish(today(), items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1, timeout=15)
    await world.outbox_drained()
    await world.polls_completed(1)
    assert sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == sorted(expected_ids(items[30:]))
    posts = world.emulator.find_requests("POST", POSTS)
    assert [r.status for r in posts] == [429, 502, 200]
    assert len({r.json["nonce"] for r in posts}) == 1  # the retry reuses the nonce


async def test_deleted_channel_pauses_with_reason(world: World, items):
    await _subscribed(world, items)
    world.emulator.set_channel_error(world.channel_id, 404, 10003, "Unknown Channel")
    world.hf.publish(today(), items[30:])
    await world.wait_until(lambda: bool(world.emulator.find_requests("POST", POSTS)))
    await world.polls_completed(2)
    listed = (await world.subscriptions("list")).embeds[0]["description"]
    assert "paused (Unknown Channel (404, code 10003))" in listed
    assert len(world.emulator.find_requests("POST", POSTS)) == 1


async def test_two_subscriptions_in_one_channel_post_a_paper_once(world: World, items):
    await _subscribed(world, items, QUERY, "attention")
    world.hf.publish(today(), items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    await world.polls_completed(1)
    embeds = [e for m in world.emulator.messages(world.channel_id) for e in m["embeds"]]
    ids = arxiv_ids(world.emulator.messages(world.channel_id))
    assert len(ids) == len(set(ids))
    both = [e for e in embeds if "subscription #1, #2" in e["footer"]["text"]]
    assert len(both) == len(expected_ids(items[30:]))  # every QUERY match also mentions attention
    listed = (await world.subscriptions("list")).embeds[0]["description"]
    assert f"{len(both)} delivered" in listed


async def test_source_failures_back_off_then_deliver_what_was_missed(world: World, items):
    await _subscribed(world, items)
    world.hf.publish(today(), items[30:])
    world.hf.fail_next(500, times=1)
    world.hf.fail_next(200, body=b'[{"paper": {"id": "2403.1', times=1)  # truncated JSON
    await world.emulator.wait_for_messages(world.channel_id, 1, timeout=20)
    await world.outbox_drained()
    state = await world.bot.store.source_state("huggingface")
    assert state.consecutive_failures == 0 and state.last_error is None
    assert sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == sorted(expected_ids(items[30:]))


async def test_a_slow_poll_is_not_doubled(world: World, items, monkeypatch):
    active = 0
    peak = 0
    original = world.hf._daily_papers

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(1.5)  # longer than the 1 s poll interval
            return await original(request)
        finally:
            active -= 1

    await world.hf.stop()
    monkeypatch.setattr(world.hf, "_daily_papers", slow)
    await world.hf.start()
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    await world.polls_completed(2, timeout=20)
    assert peak == 1


async def test_source_429_retry_after_is_honoured_and_a_stall_times_out(world: World, items):
    world.config = {"sources": {"huggingface": {"url": world.hf.url, "poll_interval": 1, "timeout": 1}}}
    await _subscribed(world, items)
    before = len(world.hf.requests)
    world.hf.fail_next(429, headers={"Retry-After": "3"})
    await world.wait_until(lambda: len(world.hf.requests) > before)
    await asyncio.sleep(2.0)  # the poll interval is 1 s, but HF asked for 3 s
    assert len(world.hf.requests) == before + 1
    world.hf.fail_next(200, stall=30)  # a hung server: the 1 s timeout fails the poll, nothing is marked seen
    world.hf.publish(today(), items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1, timeout=15)
    await world.outbox_drained()
    assert sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == sorted(expected_ids(items[30:]))
    assert (await world.bot.store.source_state("huggingface")).successes >= 2
