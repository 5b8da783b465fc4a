"""One paper's whole journey: fake HF → poll → store → match → outbox → real discord.py client → channel."""

from __future__ import annotations

import asyncio
import re

from bot.matching import parse_query
from bot.matching.compiled import encode
from bot.store import Store
from tests.e2e.conftest import World, arxiv_ids, today

QUERY = '"long context" OR "attention sink"'
# Independent oracle for QUERY (not our parser): the phrases, hyphen/space/punctuation-insensitive.
ORACLE = re.compile(r"\blong\W+context\b|\battention\W+sink\b", re.I)


def expected_ids(items):
    out = []
    for item in items:
        p = item["paper"]
        if ORACLE.search(" | ".join([p["title"], p["summary"], *p.get("ai_keywords", [])])):
            out.append(p["id"])
    return out


async def _subscribe(world: World, **options):
    result = await world.subscriptions("add", **options)
    assert result.ephemeral
    found = re.search(r"\*\*#(\d+)\*\*", result.content)
    assert found, result.content
    return int(found.group(1)), result


async def test_commands_are_synced_to_the_dev_guild(world: World):
    await world.start_bot()
    commands = world.emulator.guild_commands[world.guild_id]
    group = next(c for c in commands if c["name"] == "subscriptions")
    assert {o["name"] for o in group["options"]} == {"add", "list", "remove", "pause", "resume", "preview", "settings"}
    assert group["default_member_permissions"] == str(1 << 4)
    assert group.get("contexts") in (None, [0]) or group.get("dm_permission") is False


async def test_new_matching_papers_reach_the_channel_exactly_once(world: World, items):
    old, new = items[:30], items[30:]
    world.hf.publish(today(), old)
    await world.start_bot()
    await world.polls_completed(1)  # first poll: catalogues the backlog, posts nothing

    sub_id, reply = await _subscribe(world, query=QUERY)
    assert "Understood as:" in reply.content and "long context" in reply.content
    assert "Next check for new papers" in reply.content

    world.hf.publish(today(), new)
    want = expected_ids(new)
    assert len(want) == 3
    messages = await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.polls_completed(2)
    messages = world.emulator.messages(world.channel_id)
    assert sorted(arxiv_ids(messages)) == sorted(want)
    assert len(messages) == 1  # three papers, one message
    embed = messages[0]["embeds"][0]
    assert embed["url"].startswith("https://huggingface.co/papers/2403.")
    assert f"subscription #{sub_id}" in embed["footer"]["text"]
    assert messages[0]["nonce"] and len(messages[0]["nonce"]) <= 25
    assert messages[0]["allowed_mentions"] == {"parse": []}
    assert world.emulator.messages(world.other_channel_id) == []

    # Restart: nothing is reposted, and the next new paper still arrives.
    await world.stop_bot()
    await world.start_bot()
    await world.polls_completed(2)
    assert len(world.emulator.messages(world.channel_id)) == 1
    extra = dict(items[44], paper={**items[44]["paper"], "id": "2403.99999"})
    world.hf.publish(today(), [extra])
    await world.emulator.wait_for_messages(world.channel_id, 2)
    await world.outbox_drained()
    assert arxiv_ids(world.emulator.messages(world.channel_id)[1:]) == ["2403.99999"]

    listed = await world.subscriptions("list")
    text = listed.embeds[0]["description"]
    assert f"**#{sub_id}**" in text and "active" in text and "4 delivered" in text


async def test_forbidden_channel_pauses_only_its_subscription(world: World, items):
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    good, _ = await _subscribe(world, query=QUERY)
    bad, _ = await _subscribe(world, query=QUERY, channel=world.other_channel_id)
    world.emulator.set_channel_error(world.other_channel_id, 403, 50013, "Missing Permissions")

    world.hf.publish(today(), items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.polls_completed(2)
    await world.outbox_drained()  # the paused subscription's rows are held back, not pending-visible
    assert len(arxiv_ids(world.emulator.messages(world.channel_id))) == 3
    posts_to_bad = [
        r
        for r in world.emulator.requests
        if r.method == "POST" and r.path == f"/channels/{world.other_channel_id}/messages"
    ]
    assert len(posts_to_bad) == 1  # paused after the first refusal: no retry storm

    listed = (await world.subscriptions("list")).embeds[0]["description"]
    assert re.search(rf"\*\*#{bad}\*\*.*paused \(Missing Permissions \(403, code 50013\)\)", listed)
    assert re.search(rf"\*\*#{good}\*\*.*active.*3 delivered", listed)

    # Fixed permissions + resume: the papers held back are delivered, once.
    world.emulator.clear_channel_error(world.other_channel_id)
    resumed = await world.subscriptions("resume", subscription=bad)
    assert "resumed" in resumed.content
    await world.emulator.wait_for_messages(world.other_channel_id, 1)
    await asyncio.sleep(0.5)
    assert len(arxiv_ids(world.emulator.messages(world.other_channel_id))) == 3


async def _stored_form(world: World, sub_id: int) -> str | None:
    store = await Store.open(world.storage)
    try:
        return {stored.id: stored.compiled for stored in await store.indexing_page(0, 100)}[sub_id]
    finally:
        await store.close()


async def test_a_restart_indexes_from_the_stored_compiled_form_and_rebuilds_a_stale_one(world: World, items):
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    sub_id, _ = await _subscribe(world, query=QUERY)
    await world.stop_bot()
    assert await _stored_form(world, sub_id) is None  # added while running: indexed from the parsed query

    # The first start writes the form; the next indexes from it, and the subscription still matches.
    await world.start_bot()
    await world.polls_completed(1)
    await world.stop_bot()
    assert await _stored_form(world, sub_id) == encode(parse_query(QUERY))
    await world.start_bot()
    world.hf.publish(today(), items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    assert sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == sorted(expected_ids(items[30:]))
    await world.stop_bot()

    # A form an older release wrote (another version) is not trusted: the query is parsed and the form rewritten.
    await world.execute_sql("UPDATE query_forms SET form = :form", {"form": "0|L|x1anything"})
    await world.start_bot()
    extra = dict(items[44], paper={**items[44]["paper"], "id": "2403.99999"})
    world.hf.publish(today(), [extra])
    await world.emulator.wait_for_messages(world.channel_id, 2)
    await world.outbox_drained()
    assert arxiv_ids(world.emulator.messages(world.channel_id)[1:]) == ["2403.99999"]
    await world.stop_bot()
    assert await _stored_form(world, sub_id) == encode(parse_query(QUERY))
