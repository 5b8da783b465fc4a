"""A poll matching more pairs than are queued at once (issue 14 §4): its matches are kept compact and expanded in the
background while the sender makes room; "why (not) posted?" says queued meanwhile, and a restart mid-expansion
delivers every (channel, paper) exactly once, in order."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from bot import expansion
from bot.store import matches as compact
from tests.e2e.conftest import World, arxiv_ids, today
from tests.e2e.test_crash_recovery import subscribe_and_publish


async def _compact_pairs(world: World) -> int:
    assert world.bot is not None
    row = await world.bot.store._db.fetchone("SELECT COALESCE(SUM(total - expanded), 0) AS n FROM paper_matches")
    assert row is not None
    return int(row["n"])


@pytest.mark.both_drivers
async def test_a_big_poll_is_delivered_exactly_once_in_order_across_a_restart_mid_expansion(
    world: World, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
):
    # The same paths at a small scale: few pairs queued at once, small chunks, and a small outbox bound so the
    # expansion waits for the sender.
    monkeypatch.setattr(compact, "IMMEDIATE_PAIRS", 20)
    monkeypatch.setattr(expansion, "QUEUE_CHUNK", 15)
    monkeypatch.setattr(expansion, "PENDING_BOUND", 30)
    channels = [world.channel_id, world.other_channel_id] + [
        world.emulator.add_channel(world.guild_id, f"feed-{n}") for n in range(4)
    ]
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    await world.polls_completed()  # the first poll only catalogues
    want = await subscribe_and_publish(world, channels, items[5:])
    assert len(want) * len(channels) > 200
    await world.polls_completed()

    # The last paper waits compact: "why (not) posted?" reports it as queued, as an outbox row would be.
    explained = await world.papers("explain", paper=want[-1], subscription=len(channels))
    assert "queued: it will be posted within seconds" in explained.embeds[0]["description"]

    await world.emulator.wait_for_messages(world.channel_id, 2, timeout=30)
    assert await _compact_pairs(world) > 0  # stopped mid-expansion
    await world.stop_bot()
    await world.start_bot()

    def delivered() -> bool:
        return all(len(arxiv_ids(world.emulator.messages(c))) >= len(want) for c in channels)

    await world.wait_until(delivered, timeout=90)
    await asyncio.sleep(1.0)  # anything doubled would show up now
    for channel in channels:
        got = arxiv_ids(world.emulator.messages(channel))
        assert got == want, channel  # every paper once, oldest first (one poll: in paper id order)
        assert set(Counter(got).values()) == {1}
    assert await _compact_pairs(world) == 0 and await world.bot.store.outbox_depth() == 0


async def test_expansion_and_sending_drive_each_other_without_waiting_for_the_delivery_interval(
    world: World, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(compact, "IMMEDIATE_PAIRS", 20)
    monkeypatch.setattr(expansion, "QUEUE_CHUNK", 15)
    monkeypatch.setattr(expansion, "PENDING_BOUND", 30)  # many rounds of expanding, then sending to make room
    world.config = {"delivery": {"interval": 3600}}  # the scheduled delivery runs play no part
    channels = [world.channel_id, world.other_channel_id]
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    await world.polls_completed()
    want = await subscribe_and_publish(world, channels, items[5:])
    assert len(want) * len(channels) > 60

    def delivered() -> bool:
        return all(len(arxiv_ids(world.emulator.messages(c))) >= len(want) for c in channels)

    await world.wait_until(delivered, timeout=60)
    assert all(arxiv_ids(world.emulator.messages(c)) == want for c in channels)
