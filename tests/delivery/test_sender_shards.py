"""A sharded process's sender posts only its own guilds' deliveries and digests (DMs: the shard-0 process)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from bot.delivery.sender import Sender
from bot.models import Schedule, Scope
from bot.sharding import Shards, owns_guild
from tests.conftest import T0, make_paper
from tests.delivery.test_sender import _RecordingTransport

# Guilds whose ids put them on shard 0 and shard 1 of 2; one channel each; one user with a DM alert.
GUILD = {0: (10 << 22) | 77, 1: (11 << 22) | 77}
CHANNEL = {0: 100, 1: 200}
USER, DM_CHANNEL = 7, 907


class _Transport(_RecordingTransport):
    """Every post succeeds and its channel is recorded; DMs open too."""

    async def open_dm(self, user_id: int) -> int:
        return 900 + user_id


async def _subscribe_everywhere(store, schedule: Schedule) -> None:
    subs = [
        await store.add_subscription(
            scope=Scope.GUILD,
            user_id=1,
            query="attention",
            now=T0,
            guild_id=GUILD[shard],
            channel_id=CHANNEL[shard],
            schedule=schedule,
        )
        for shard in (0, 1)
    ]
    subs.append(
        await store.add_subscription(scope=Scope.USER, user_id=USER, query="attention", now=T0, schedule=schedule)
    )
    await store.ingest([make_paper(n) for n in range(3)], lambda new, _: [(s.id, p.id) for s in subs for p in new], T0)


async def test_each_process_sends_its_own_guilds_and_the_shard_0_process_the_dms(store):
    await _subscribe_everywhere(store, Schedule.INSTANT)
    one = _Transport()
    await Sender(store, one, lambda: T0, shards=Shards(2, frozenset({1}))).drain()
    assert Counter(one.posts) == {CHANNEL[1]: 1}
    assert await store.outbox_depth() == 6  # shard 0's guild and the DM: 3 papers each, waiting

    zero = _Transport()
    await Sender(store, zero, lambda: T0, shards=Shards(2, frozenset({0}))).drain()
    assert Counter(zero.posts) == {CHANNEL[0]: 1, DM_CHANNEL: 1}
    assert await store.outbox_depth() == 0

    again = _Transport()  # nothing is left for anyone: each row went out once
    await Sender(store, again, lambda: T0).drain()
    assert again.posts == []


async def test_digests_go_out_from_the_process_owning_the_guild(store):
    await _subscribe_everywhere(store, Schedule.DAILY)
    later = T0 + timedelta(days=2)
    one = _Transport()
    result = await Sender(store, one, lambda: later, shards=Shards(2, frozenset({1}))).drain()
    assert (result.digests, one.posts) == (1, [CHANNEL[1]])
    zero = _Transport()
    result = await Sender(store, zero, lambda: later, shards=Shards(2, frozenset({0}))).drain()
    assert (result.digests, Counter(zero.posts)) == (2, {CHANNEL[0]: 1, DM_CHANNEL: 1})


async def test_the_shard_filter_keeps_exactly_the_owned_rows(store):
    await _subscribe_everywhere(store, Schedule.INSTANT)

    async def targets(shards: Shards | None) -> set[int]:
        return {row.target.id for row in await store.due_deliveries(T0, shards=shards)}

    assert await targets(None) == {CHANNEL[0], CHANNEL[1], USER}
    assert await targets(Shards(2, frozenset({0}))) == {CHANNEL[0], USER}
    assert await targets(Shards(2, frozenset({1}))) == {CHANNEL[1]}
    # Three shards: guild 10<<22 is on shard 1, guild 11<<22 on shard 2.
    assert await targets(Shards(3, frozenset({2}))) == {CHANNEL[1]}
    assert await targets(Shards(3, frozenset({0, 1}))) == {CHANNEL[0], USER}


async def test_the_sql_filter_agrees_with_the_python_rule_for_real_sized_ids(store):
    """Snowflakes up to 2^63: the outbox query's shard arithmetic is the same as bot/sharding.py's."""
    rng = random.Random(14)
    guilds = [rng.randrange(1 << 40, 1 << 63) for _ in range(60)]
    subs = [
        await store.add_subscription(
            scope=Scope.GUILD, user_id=1, query="attention", now=T0, guild_id=g, channel_id=1000 + i
        )
        for i, g in enumerate(guilds)
    ]
    await store.ingest([make_paper(1)], lambda new, _: [(s.id, p.id) for s in subs for p in new], T0)
    for count in (1, 2, 3, 7, 16):
        for ids in ({0}, {count - 1}, set(range(0, count, 2))):
            shards = Shards(count, frozenset(ids))
            got = {row.target.id for row in await store.due_deliveries(T0, shards=shards)}
            want = {1000 + i for i, g in enumerate(guilds) if owns_guild(g, count, ids)}
            assert got == want, (count, ids)
