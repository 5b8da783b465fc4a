from datetime import timedelta

import aiosqlite
import pytest

from bot.models import DeliveryStatus, SubscriptionStatus
from bot.store import Store
from tests.conftest import T0, make_paper


async def _sub(store, guild=1, channel=10, query="attention"):
    return await store.add_subscription(guild_id=guild, channel_id=channel, query=query, created_by=5, now=T0)


async def test_migrations_are_idempotent_and_wal(tmp_path):
    path = str(tmp_path / "m.db")
    for _ in range(2):
        store = await Store.open(path)
        assert await store.schema_version() == 1
        await store.close()
    async with aiosqlite.connect(path) as db, db.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"


async def test_ingest_plans_only_new_papers_and_keeps_first_seen(store):
    sub = await _sub(store)
    seen = []

    def plan(papers):
        seen.append([p.id for p in papers])
        return [(sub.id, p.id) for p in papers]

    first = await store.ingest([make_paper(1), make_paper(2)], plan, T0)
    assert [p.id for p in first.new_papers] == ["2411.00001", "2411.00002"] and first.queued == 2
    later = T0 + timedelta(hours=1)
    second = await store.ingest([make_paper(2, upvotes=9, ai_summary="short"), make_paper(3)], plan, later)
    assert seen == [["2411.00001", "2411.00002"], ["2411.00003"]]
    assert second.updated == 1 and second.queued == 1
    paper = await store.get_paper("2411.00002")
    assert paper.first_seen_at == T0 and paper.upvotes == 9 and paper.ai_summary == "short"


async def test_metadata_merge_never_loses_fields(store):
    await store.ingest([make_paper(1, upvotes=30, thumbnail_url="https://x/t.png", code_url="https://g/c")],
                       lambda p: (), T0)
    await store.ingest([make_paper(1, upvotes=3, authors=(), code_url=None)], lambda p: (), T0)
    paper = await store.get_paper("2411.00001")
    assert paper.upvotes == 30 and paper.thumbnail_url == "https://x/t.png" and paper.code_url == "https://g/c"
    assert paper.authors == ("Ada Lovelace", "Alan Turing")


async def test_delivery_is_unique_per_subscription_and_paper(store):
    sub = await _sub(store)
    await store.ingest([make_paper(1)], lambda ps: [(sub.id, p.id) for p in ps] * 2, T0)
    await store.add_subscription(guild_id=1, channel_id=10, query="x", created_by=1, now=T0, backfill=[])
    assert len(await store.due_deliveries(T0)) == 1


async def test_outbox_lifecycle(store):
    sub = await _sub(store)
    await store.ingest([make_paper(1), make_paper(2)], lambda ps: [(sub.id, p.id) for p in ps], T0)
    due = await store.due_deliveries(T0)
    assert [d.paper.id for d in due] == ["2411.00001", "2411.00002"]
    keys = [(sub.id, "2411.00001")]
    await store.mark_sending(keys, "nonce1", T0)
    await store.mark_retry(keys, "HTTP 502", T0 + timedelta(seconds=30))
    due = await store.due_deliveries(T0)
    assert [d.paper.id for d in due] == ["2411.00002"]
    due = await store.due_deliveries(T0 + timedelta(seconds=30))
    assert due[0].nonce == "nonce1" and due[0].attempts == 1
    await store.mark_sent(keys, 999, T0)
    assert await store.delivery_status(sub.id, "2411.00001") is DeliveryStatus.SENT
    assert await store.sent_message_for(10, "2411.00001") == 999
    assert (await store.get_subscription(1, sub.id)).delivered_count == 1


async def test_guild_isolation(store):
    mine = await _sub(store, guild=1)
    assert await store.get_subscription(2, mine.id) is None
    assert not await store.set_subscription_status(2, mine.id, SubscriptionStatus.PAUSED, "x")
    assert (await store.get_subscription(1, mine.id)).active
    assert await store.list_subscriptions(2) == []


async def test_pause_channel_pauses_only_that_channel_and_hides_its_outbox(store):
    a = await _sub(store, channel=10)
    b = await _sub(store, channel=11)
    await store.ingest([make_paper(1)], lambda ps: [(a.id, "2411.00001"), (b.id, "2411.00001")], T0)
    assert await store.pause_channel(10, "Missing Access (403, code 50001)") == [a.id]
    paused = await store.get_subscription(1, a.id)
    assert paused.status is SubscriptionStatus.PAUSED and "50001" in paused.pause_reason
    assert [d.subscription_id for d in await store.due_deliveries(T0)] == [b.id]
    await store.set_subscription_status(1, a.id, SubscriptionStatus.ACTIVE)
    assert len(await store.due_deliveries(T0)) == 2


async def test_removed_subscriptions_free_the_cap_and_vanish(store):
    sub = await _sub(store)
    assert await store.count_subscriptions(1) == 1
    await store.set_subscription_status(1, sub.id, "removed")
    assert await store.count_subscriptions(1) == 0
    assert await store.get_subscription(1, sub.id) is None
    assert not await store.set_subscription_status(1, sub.id, SubscriptionStatus.ACTIVE)


async def test_failed_transaction_leaves_nothing(store):
    def plan(papers):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.ingest([make_paper(1)], plan, T0)
    assert await store.get_paper("2411.00001") is None


async def test_source_state(store):
    assert await store.record_source_result("hf", T0, "HTTP 500") == 1
    assert await store.record_source_result("hf", T0, "HTTP 500") == 2
    assert await store.record_source_result("hf", T0, None) == 0
    state = await store.source_state("hf")
    assert state.consecutive_failures == 0 and state.last_success_at == T0
