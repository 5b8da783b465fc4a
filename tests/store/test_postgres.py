"""The PostgreSQL driver's own parts: its migrations line up with SQLite's, and named parameters translate."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg

from bot.models import Owner, Scope, SubscriptionStatus
from bot.store import Store
from bot.store.migrations import MIGRATIONS
from bot.store.postgres.database import redact, translate
from bot.store.postgres.migrations import PG_MIGRATIONS
from bot.store.postgres.pacing import SharedRatePacer
from tests.conftest import T0, make_paper


def test_every_sqlite_migration_has_its_postgresql_counterpart():
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)


def test_named_parameters_become_numbered_once_each_and_literals_and_casts_stay():
    sql, names = translate("SELECT :a, ':b', CAST(:c AS jsonb), x::text, '12:30' WHERE y = :a")
    assert sql == "SELECT $1, ':b', CAST($2 AS jsonb), x::text, '12:30' WHERE y = $1"
    assert names == ("a", "c")


def test_the_password_never_reaches_logs():
    assert redact("postgresql://bot:s3cret@db:5432/paperbot") == "postgresql://bot:***@db:5432/paperbot"


async def test_migrations_are_idempotent_and_processes_starting_together_migrate_once(pg_cluster):
    url = pg_cluster.create_database()
    stores = await asyncio.gather(*(Store.open(url) for _ in range(3)))
    for store in stores:
        assert await store.schema_version() == len(MIGRATIONS)
        await store.close()
    store = await Store.open(url)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM paperbot_schema") == 1
    finally:
        await conn.close()


async def _two_processes(pg_cluster):
    url = pg_cluster.create_database()
    return await Store.open(url), await Store.open(url)


async def test_two_processes_never_get_the_same_outbox_row_and_a_dead_ones_rows_are_taken_over(pg_cluster):
    a, b = await _two_processes(pg_cluster)
    try:
        subs = [
            await a.add_subscription(
                scope=Scope.GUILD, guild_id=1, channel_id=10 + n, user_id=5, query="attention", now=T0
            )
            for n in range(4)
        ]
        papers = [make_paper(n) for n in range(1, 26)]
        await a.ingest(papers, lambda new, recheck: [(s.id, p.id) for s in subs for p in new], T0)
        later = T0 + timedelta(minutes=1)
        got_a, got_b = await asyncio.gather(a.due_deliveries(later), b.due_deliveries(later))
        keys_a = {(d.subscription_id, d.paper.id) for d in got_a}
        keys_b = {(d.subscription_id, d.paper.id) for d in got_b}
        assert not keys_a & keys_b
        assert len(keys_a | keys_b) == 100
        # Asking again, each gets back only its own rows (claims last as long as the process's session).
        assert {(d.subscription_id, d.paper.id) for d in await b.due_deliveries(later)} == keys_b
        await a.close()  # as kill -9 would: the session ends, and with it a's claims
        taken = {(d.subscription_id, d.paper.id) for d in await b.due_deliveries(later)}
        assert taken == keys_a | keys_b
    finally:
        await b.close()


async def test_only_one_process_leads_and_another_takes_over_when_it_goes(pg_cluster):
    a, b = await _two_processes(pg_cluster)
    try:
        assert await a.coordination.is_leader()
        assert not await b.coordination.is_leader()
        assert await a.coordination.is_leader()  # still
        await a.close()
        assert await b.coordination.is_leader()
    finally:
        await b.close()


async def test_every_process_hears_of_subscriptions_changed_by_another(pg_cluster):
    a, b = await _two_processes(pg_cluster)
    heard: list[int] = []
    b.coordination.on_subscription_change(heard.append)
    try:
        sub = await a.add_subscription(scope=Scope.GUILD, guild_id=1, channel_id=10, user_id=5, query="x", now=T0)
        await a.set_subscription_status(Owner.guild(1), sub.id, SubscriptionStatus.PAUSED)
        for _ in range(100):
            if len(heard) >= 2:
                break
            await asyncio.sleep(0.05)
        assert heard == [sub.id, sub.id]
    finally:
        await a.close()
        await b.close()


async def test_processes_sharing_the_schedule_take_turns_at_the_shared_rate(pg_cluster):
    url = pg_cluster.create_database()
    await (await Store.open(url)).close()  # migrated
    rate, turns = 50.0, 40
    pacers = [SharedRatePacer(url, rate) for _ in range(2)]  # two processes' pacers
    started: list[float] = []

    async def take(pacer: SharedRatePacer) -> None:
        for _ in range(turns // 2):
            await pacer.acquire()
            started.append(time.monotonic())

    try:
        await asyncio.gather(*(take(p) for p in pacers))
    finally:
        for pacer in pacers:
            await pacer.close()
    # Together, not each: 40 turns at 50/s span at least 39 intervals (less the quarter-interval slack).
    assert max(started) - min(started) >= (turns - 1) / rate - 0.25 / rate


async def test_a_process_whose_loop_stalled_past_its_slot_takes_a_new_one(pg_cluster):
    """Process B's loop stalls while it sleeps until its reserved slot; waking late, it must not go at once (into
    process A's turns, where Discord would count both in one second) but take a new slot after A's."""
    url = pg_cluster.create_database()
    await (await Store.open(url)).close()  # migrated
    rate = 10.0
    a_starts: list[float] = []
    b_starts: list[float] = []

    def process_b() -> None:
        async def main() -> None:
            pacer = SharedRatePacer(url, rate)
            loop = asyncio.get_running_loop()
            try:
                for _ in range(5):
                    turn = asyncio.create_task(pacer.acquire())
                    loop.call_later(0.03, time.sleep, 0.37)  # the stall, while the turn sleeps until its slot
                    await turn
                    b_starts.append(time.monotonic())
                    await asyncio.sleep(0.2)
            finally:
                await pacer.close()

        asyncio.run(main())

    pacer = SharedRatePacer(url, rate)
    b = asyncio.create_task(asyncio.to_thread(process_b))
    try:
        while not b.done():
            await pacer.acquire()
            a_starts.append(time.monotonic())
        await b
    finally:
        await pacer.close()
    assert len(b_starts) == 5
    # Slots are 100 ms apart: a B turn that went late sits anywhere between two of A's, under 50 ms from one of
    # them; a new slot is a slot apart. The median, because on a loaded machine a reply from the database that comes
    # late can still put a single turn of either process beside the other's.
    nearest = sorted(min(abs(b_at - a_at) for a_at in a_starts) for b_at in b_starts)
    assert nearest[len(nearest) // 2] >= 0.5 / rate, nearest
