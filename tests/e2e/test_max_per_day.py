"""``max_per_day``: at most N instant posts per day per subscription, most upvoted first; the rest are listed once
in an overflow message at the owner's digest time — across a restart, never dropped, never twice."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime

import pytest

from bot.models import Owner
from tests.e2e.conftest import World, arxiv_ids
from tests.e2e.test_alerts_and_digests import _boot
from tests.e2e.test_subscriptions import QUERY, expected_ids


async def _digest_time_handled(world: World, now: datetime) -> None:
    """Wait until the delivery job has dealt with subscription #1's digest time (sent, or found nothing to send)."""
    assert world.bot is not None
    store = world.bot.store
    for _ in range(200):
        sub = await store.get_subscription(Owner.guild(world.guild_id), 1)
        if sub is not None and sub.last_digest_at is not None and sub.last_digest_at.date() == now.date():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the digest time was not handled")


@pytest.mark.both_drivers
async def test_capped_posts_then_one_overflow_message_at_digest_time(world: World, items):
    clock = await _boot(world, items)
    added = await world.subscriptions("add", query=QUERY, max_per_day=1)
    assert "at most 1 a day" in added.content, added.content
    world.hf.publish(clock.day(), items[30:])
    want = expected_ids(items[30:])
    assert len(want) >= 3
    upvotes = {i["paper"]["id"]: i["paper"]["upvotes"] for i in items}
    best = sorted(want, key=lambda pid: (-upvotes[pid], pid))
    await world.wait_until(lambda: len(arxiv_ids(world.emulator.messages(world.channel_id))) >= 1)
    await world.outbox_drained()
    assert sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == best[:1]  # the most upvoted
    explained = await world.emulator.invoke(
        user_id=world.moderator_id,
        name="papers",
        subcommand="explain",
        options={"paper": best[1]},
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert "max_per_day" in explained.embeds[0]["description"]

    # A restart before the digest time loses nothing and sends nothing early.
    await world.stop_bot()
    await world.start_bot()
    await world.outbox_drained()
    assert len(world.emulator.messages(world.channel_id)) == len(
        set(arxiv_ids(world.emulator.messages(world.channel_id)))
    )
    posted_before = len(world.emulator.messages(world.channel_id))

    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))  # the server's digest time (default 09:00 UTC)
    messages = await world.emulator.wait_for_messages(world.channel_id, posted_before + 1)
    overflow = messages[-1]["embeds"][0]
    rest = best[1:]
    assert overflow["title"].startswith(f"{len(rest)} more matched today")
    for rank, paper_id in enumerate(rest, start=1):  # best first, each with its link
        assert f"**{rank}.** [" in overflow["description"] and f"/papers/{paper_id})" in overflow["description"]
    order = [overflow["description"].index(f"/papers/{pid})") for pid in rest]
    assert order == sorted(order)

    # Exactly once: later drains, a restart and the next day's digest time add nothing for this overflow.
    await world.stop_bot()
    await world.start_bot()
    clock.set(datetime(2026, 11, 3, 9, 0, 1, tzinfo=UTC))
    await _digest_time_handled(world, clock.now)
    assert len(world.emulator.messages(world.channel_id)) == posted_before + 1


async def test_overflow_skips_papers_another_subscription_brought_to_the_channel(world: World, items):
    clock = await _boot(world, items)
    await world.subscriptions("add", query=QUERY, max_per_day=1)
    await world.subscriptions("add", query='"attention sink" OR "long context"')  # same papers, no cap
    world.hf.publish(clock.day(), items[30:])
    want = expected_ids(items[30:])
    await world.wait_until(lambda: sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == sorted(want))
    await world.outbox_drained()
    posted = len(world.emulator.messages(world.channel_id))
    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))
    await _digest_time_handled(world, clock.now)
    # Every paper is in the channel once already: no overflow message lists them again, and #1's rows are settled.
    assert len(world.emulator.messages(world.channel_id)) == posted
    for paper_id in want:
        record = await world.bot.store.delivery_record(1, paper_id)
        assert record is not None and record.status == "sent", (paper_id, record)


@pytest.mark.both_drivers
async def test_an_alerts_cap_counts_the_users_own_day(world: World, items):
    clock = await _boot(world, items)
    reader = world.member_id
    # The user's day starts at midnight in Tokyo (15:00 UTC) and their digest goes out at 08:00 there (23:00 UTC).
    await world.alerts("settings", user_id=reader, timezone="Asia/Tokyo", digest_time="08:00")
    added = await world.alerts("add", user_id=reader, query=QUERY, max_per_day=1)
    assert "at most 1 a day" in added.content
    world.hf.publish(clock.day(), items[30:])
    want = expected_ids(items[30:])
    await world.wait_until(lambda: world.emulator.dm_channel_id(reader) is not None)
    dm = world.emulator.dm_channel_id(reader)
    await world.wait_until(lambda: len(world.emulator.messages(dm)) == 1)
    await world.outbox_drained()
    assert len(arxiv_ids(world.emulator.messages(dm))) == 1
    # 15:30 UTC is still the same UTC day, but a new day in Tokyo: the cap counts again, so a new match goes out now.
    clock.set(datetime(2026, 11, 2, 15, 30, tzinfo=UTC))
    fresh = copy.deepcopy(items[30])
    fresh["paper"].update(id="2403.99999", title="Long context for everyone", upvotes=1)
    world.hf.publish(clock.day(), [fresh])
    await world.wait_until(lambda: len(world.emulator.messages(dm)) == 2)
    assert arxiv_ids(world.emulator.messages(dm)[1:]) == ["2403.99999"]
    clock.set(datetime(2026, 11, 2, 22, 59, tzinfo=UTC))  # still before 08:00 in Tokyo: no overflow yet
    await world.bot.deliver()
    assert len(world.emulator.messages(dm)) == 2
    clock.set(datetime(2026, 11, 2, 23, 0, 1, tzinfo=UTC))
    messages = await world.emulator.wait_for_messages(dm, 3)
    assert messages[-1]["embeds"][0]["title"].startswith(f"{len(want) - 1} more matched today")


async def test_max_per_day_with_a_digest_schedule_is_refused(world: World, items):
    await _boot(world, items)
    refused = await world.subscriptions("add", query=QUERY, schedule="daily", max_per_day=3)
    assert refused.ephemeral and "limits instant posts" in refused.content, refused.content
    assert (await world.subscriptions("list")).content.startswith("No subscriptions")


async def test_an_overflow_sent_today_does_not_use_up_todays_posts(world: World, items):
    clock = await _boot(world, items)
    await world.subscriptions("add", query=QUERY, max_per_day=1)
    clock.set(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))  # after Monday's digest time: the overflow waits a day
    world.hf.publish(clock.day(), items[30:])
    await world.wait_until(lambda: len(world.emulator.messages(world.channel_id)) == 1)
    await world.outbox_drained()
    clock.set(datetime(2026, 11, 3, 9, 0, 1, tzinfo=UTC))  # Tuesday's digest time: Monday's overflow goes out
    await world.emulator.wait_for_messages(world.channel_id, 2)
    clock.set(datetime(2026, 11, 3, 10, 0, tzinfo=UTC))
    fresh = copy.deepcopy(items[30])
    fresh["paper"].update(id="2403.99998", title="Long context on Tuesday", upvotes=0)
    world.hf.publish(clock.day(), [fresh])
    # Tuesday's one instant post is still free: the overflow's papers were not instant posts.
    messages = await world.emulator.wait_for_messages(world.channel_id, 3)
    assert arxiv_ids(messages[2:]) == ["2403.99998"]
