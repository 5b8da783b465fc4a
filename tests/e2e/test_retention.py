"""Retention end to end: papers past ``storage.keep_papers_days`` are pruned by the maintenance job, and a
paper listed again after pruning is never delivered again, while a new one still is."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from tests.e2e.conftest import World, arxiv_ids
from tests.e2e.test_papers_commands import _boot, papers
from tests.e2e.test_subscriptions import QUERY, expected_ids


@pytest.mark.both_drivers
async def test_pruned_papers_listed_again_are_not_delivered_again(world: World, items):
    world.config["storage"] = {"keep_papers_days": 30}
    clock = await _boot(world, items)
    await world.subscriptions("add", query=QUERY)
    world.hf.publish(clock.day(), items[30:])
    delivered = expected_ids(items[30:])
    assert len(delivered) >= 2
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    assert world.bot is not None
    before = await world.bot.store.storage_stats()

    clock.advance(days=40)
    result = await world.bot.maintain()
    assert result.pruned == before.papers == 71
    assert not result.vacuumed  # a database created by this release is incremental from the start
    after = await world.bot.store.storage_stats()
    assert after.papers == 0 and after.seen_ids == 71 and after.free_bytes == 0
    if world.storage_url:  # PostgreSQL keeps what it freed for its next rows (autovacuum): no growth
        assert after.file_bytes <= before.file_bytes
    else:  # SQLite gives the space back to the file system
        assert after.file_bytes < before.file_bytes
    status = (await papers(world, "status", user_id=world.member_id)).embeds[0]["description"]
    assert "Database:" in status and "0 papers stored" in status and "oldest kept none" in status, status
    found = await papers(world, "search", query=QUERY)
    assert "No stored papers match" in found.content or not found.embeds, found.content  # full-text rows gone

    # The source lists the old papers again (a second listing, a new version) next to one never seen before.
    posted = len(world.emulator.messages(world.channel_id))
    relisted = copy.deepcopy(items[30:])
    for item in relisted:
        item["paper"]["upvotes"] = item["paper"].get("upvotes", 0) + 100
    new = copy.deepcopy(next(item for item in items[30:] if item["paper"]["id"] == delivered[0]))
    new["paper"]["id"] = "2612.99991"
    world.hf.publish(clock.day(), [*relisted, new])
    await world.polls_completed(2)
    await world.emulator.wait_for_messages(world.channel_id, posted + 1)
    await world.outbox_drained()
    await world.polls_completed(1)
    ids = Counter(arxiv_ids(world.emulator.messages(world.channel_id)))
    assert ids["2612.99991"] == 1
    assert set(ids) == {*delivered, "2612.99991"} and set(ids.values()) == {1}, ids
    assert (await world.bot.store.storage_stats()).papers == 1  # only the new paper is stored again
