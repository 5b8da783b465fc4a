"""Two bot processes (`python -m bot run`) on one PostgreSQL database, against one emulator, act as one bot:
each runs one of two shards, one of them polls and matches, both send (each its own servers' papers), nothing
twice, nothing lost, and together they stay under Discord's global rate limit. The leader is killed with
``kill -9``; the other takes over; the killed one comes back and sends what its servers were waiting for."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from bot.devtools.emulator import DiscordEmulator
from bot.matching import document_for, matches, parse_query
from bot.models import Scope
from bot.sharding import shard_of
from bot.sources.huggingface import parse_daily_papers
from bot.store import Store
from tests.e2e.conftest import World, arxiv_ids, today
from tests.e2e.test_crash_recovery import BROAD, BotProcess

INTERVAL = 2.0  # seconds between polls: the takeover bound is two of them
CHANNELS = 150  # enough channels that the senders want more than Discord's global 50 requests a second
MESSAGE_POSTS = r"/channels/\d+/messages"


def _poll_starts(world: World) -> list[float]:
    """When each poll began, cluster-wide: a poll's first request is today's first page."""
    day = today()
    return [
        t for q, t in zip(world.hf.requests, world.hf.request_times, strict=True) if (q["date"], q["p"]) == (day, "0")
    ]


@pytest.mark.slow
async def test_two_processes_deliver_everything_once_under_one_rate_limit(world: World, items, tmp_path):
    world.emulator.enforce_rate_limits(global_per_second=50, channel_messages=(5, 5.0))
    # Two servers on the two shards: the first process runs the test server's shard, the second the other's.
    mine = shard_of(world.guild_id, 2)
    other = next(
        server.guild_id
        for n in range(8)
        if shard_of((server := world.loopback.add_server(f"Lab {n}")).guild_id, 2) != mine
    )
    half = CHANNELS // 2
    channels = [world.channel_id] + [world.emulator.add_channel(world.guild_id, f"feed-{n}") for n in range(half - 1)]
    theirs = [world.emulator.add_channel(other, f"feed-{n}") for n in range(CHANNELS - half)]
    world.hf.publish(today(), items[:5])
    first = BotProcess(world, tmp_path / "a", poll_interval=INTERVAL, shards={"shard_count": 2, "shard_ids": [mine]})
    second = BotProcess(
        world, tmp_path / "b", poll_interval=INTERVAL, shards={"shard_count": 2, "shard_ids": [1 - mine]}
    )
    await first.start()
    try:
        await world.wait_until(lambda: len(_poll_starts(world)) >= 1, timeout=30)  # the first leads and catalogues
        await second.start()
        result = await world.emulator.invoke(
            user_id=world.moderator_id,
            name="subscriptions",
            subcommand="add",
            options={"query": BROAD, "channel": channels[0]},
            guild_id=world.guild_id,
            channel_id=world.channel_id,
        )
        assert "added" in result.content, result.content
        # The other subscriptions straight into the shared database, as a third process would add them.
        store = await Store.open(world.storage)
        try:
            for guild, channel in [(world.guild_id, c) for c in channels[1:]] + [(other, c) for c in theirs]:
                await store.add_subscription(
                    scope=Scope.GUILD,
                    guild_id=guild,
                    channel_id=channel,
                    user_id=world.moderator_id,
                    query=BROAD,
                    now=datetime.now(UTC),
                )
        finally:
            await store.close()
        await asyncio.sleep(1)  # the leader hears of them (LISTEN/NOTIFY) in milliseconds; papers come later
        world.hf.publish(today(), items[5:])
        query = parse_query(BROAD)
        want = [p.id for p in parse_daily_papers(items[5:]) if matches(query, document_for(p))]
        assert len(want) > 50

        def posted() -> int:
            return sum(1 for r in world.emulator.find_requests("POST", MESSAGE_POSTS) if r.status == 200)

        await world.wait_until(lambda: posted() >= 40, timeout=60)
        assert "this process is now the leader" in first.log.read_text(errors="replace")
        killed_at = time.monotonic()
        await first.kill()
        await world.wait_until(lambda: _poll_starts(world)[-1] > killed_at, timeout=5 * INTERVAL)
        takeover = _poll_starts(world)[-1] - killed_at
        assert "this process is now the leader" in second.log.read_text(errors="replace")
        await first.start()  # back, now a follower: it sends its servers' papers (its old claims died with it)

        def delivered() -> bool:
            # Cheap on purpose: the emulator shares this event loop, and a slow check would stall it, bunching
            # the requests it admits afterwards (what it counts against the global limit). Checked exactly below.
            posts = world.emulator.find_requests("POST", MESSAGE_POSTS)
            return sum(len(r.json["embeds"]) for r in posts if r.status == 200) >= len(want) * CHANNELS

        await world.wait_until(delivered, timeout=120)
        await asyncio.sleep(2 * INTERVAL)  # anything doubled, or polled twice, would show up now
    finally:
        await first.stop()
        await second.stop()

    for channel in channels + theirs:
        counts = Counter(arxiv_ids(world.emulator.messages(channel)))
        assert sorted(counts) == sorted(want), channel
        assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v > 1}
    starts = _poll_starts(world)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # One poll per interval cluster-wide: as many polls as intervals passed, never two together. (Gaps are timed
    # at the fake server: a loaded machine delays one poll's request more than the next one's.)
    assert len(starts) <= (starts[-1] - starts[0]) / INTERVAL + 2, gaps
    assert min(gaps) >= 0.5 * INTERVAL, gaps
    assert takeover <= 2 * INTERVAL, takeover
    global_429 = [
        r for r in world.emulator.requests if r.status == 429 and r.response_headers.get("X-RateLimit-Global")
    ]
    peak = world.emulator.peak_requests(1.0)
    assert not global_429 and peak <= 50, (len(global_429), peak)
    print(
        f"{CHANNELS} channels x {len(want)} papers from 2 processes: takeover after kill -9 in {takeover:.2f} s, "
        f"{len(starts)} polls, shortest gap {min(gaps):.2f} s; busiest second {peak} requests, 0 global 429s"
    )
    for process in (first, second):
        assert DiscordEmulator.BOT_TOKEN not in process.log.read_text(errors="replace")
