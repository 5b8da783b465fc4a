"""The paper controls (👍 👎 🔖 🔎) on delivered papers, clicked through the emulator by real users, before and after a
restart of the bot."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.devtools.emulator import DiscordEmulator
from bot.models import Scope, Target
from tests.e2e.conftest import FakeClock, World, arxiv_ids, today
from tests.e2e.test_subscriptions import QUERY, expected_ids

ACTIONS = ("like", "dislike", "save", "similar")


def _components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return list(DiscordEmulator.walk_components(message.get("components") or []))


async def _deliver_three(world: World, items: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Three matching papers arrive in one message; returns it and their ids."""
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    await world.subscriptions("add", query=QUERY)
    world.hf.publish(today(), items[30:])
    (message,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    ids = arxiv_ids([message])
    assert sorted(ids) == sorted(expected_ids(items[30:])) and len(ids) == 3
    return message, ids


@pytest.mark.both_drivers
async def test_controls_work_before_and_after_a_restart(world: World, items):
    message, ids = await _deliver_three(world, items)
    emulator, reader = world.emulator, world.member_id

    # Several papers in one message: one string select per action, each offering the papers in order.
    rows = message["components"]
    assert len(rows) == 4 and all(r["type"] == 1 and len(r["components"]) == 1 for r in rows)
    selects = [r["components"][0] for r in rows]
    assert [s["custom_id"] for s in selects] == [f"papers:{a}" for a in ACTIONS]
    for select in selects:
        assert select["type"] == 3 and [o["value"] for o in select["options"]] == ids

    with pytest.raises(AssertionError, match="offers"):  # the Discord client offers only the listed papers
        await emulator.click(user_id=reader, message=message, custom_id="papers:like", values=["2401.00000"])
    liked = await emulator.click(user_id=reader, message=message, custom_id="papers:like", values=[ids[0]])
    assert liked.ephemeral and "You liked" in liked.content
    again = await emulator.click(user_id=reader, message=message, custom_id="papers:like", values=[ids[0]])
    assert again.ephemeral and "Took back your like" in again.content  # the same user's last click counts
    channel = Target(Scope.GUILD, world.channel_id)
    assert (await world.bot.store.feedback_counts(channel, ids[0])).likes == 0
    await emulator.click(user_id=reader, message=message, custom_id="papers:dislike", values=[ids[1]])

    # Restart: the message sent before it keeps working, and a new single-paper message gets buttons.
    await world.stop_bot()
    await world.start_bot()
    liked = await emulator.click(user_id=reader, message=message, custom_id="papers:like", values=[ids[1]])
    assert "You liked" in liked.content  # a like replaces that user's dislike
    counts = await world.bot.store.feedback_counts(channel, ids[1])
    assert (counts.likes, counts.dislikes) == (1, 0)

    extra = dict(items[44], paper={**items[44]["paper"], "id": "2403.99999"})
    world.hf.publish(today(), [extra])
    single = (await emulator.wait_for_messages(world.channel_id, 2))[1]
    assert arxiv_ids([single]) == ["2403.99999"] and len(single["embeds"]) == 1
    (row,) = single["components"]
    assert [b["custom_id"] for b in row["components"]] == [f"paper:{a}:2403.99999" for a in ACTIONS]
    assert all(b["type"] == 2 and len(b["custom_id"]) <= 100 for b in row["components"])
    clicked = await emulator.click(user_id=world.moderator_id, message=single, custom_id="paper:like:2403.99999")
    assert clicked.ephemeral and "You liked" in clicked.content

    # /papers explain shows the channel's counts for the subscription that delivered there, no names.
    explained = await world.emulator.invoke(
        user_id=world.moderator_id,
        name="papers",
        subcommand="explain",
        options={"paper": ids[1]},
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    text = explained.embeds[0]["description"]
    assert "Feedback here: 👍 1 · 👎 0 · 🔖 0" in text
    assert "reader" not in text


async def test_save_dms_the_paper_or_says_dms_are_closed(world: World, items):
    message, ids = await _deliver_three(world, items)
    emulator = world.emulator
    saved = await emulator.click(user_id=world.member_id, message=message, custom_id="papers:save", values=[ids[2]])
    assert saved.ephemeral and "to your DMs" in saved.content
    dm = emulator.dm_channel_id(world.member_id)
    assert dm is not None
    (sent,) = emulator.messages(dm)
    assert arxiv_ids([sent]) == [ids[2]]
    assert len(sent["embeds"][0]["description"]) > len(message["embeds"][2]["description"])  # the full embed

    private = emulator.add_member(world.guild_id, user_id=emulator.add_user("private", dms_closed=True))
    refused = await emulator.click(user_id=private, message=message, custom_id="papers:save", values=[ids[2]])
    assert refused.ephemeral and "DMs are closed" in refused.content
    counts = await world.bot.store.feedback_counts(Target(Scope.GUILD, world.channel_id), ids[2])
    assert counts.saves == 1  # only the save that reached a DM counts


async def test_similar_lists_other_stored_papers(world: World, items):
    message, ids = await _deliver_three(world, items)
    result = await world.emulator.click(
        user_id=world.member_id, message=message, custom_id="papers:similar", values=[ids[0]]
    )
    assert result.ephemeral and "Papers similar to" in result.content
    listed = re.findall(r"\*\* `([^`]+)` · similarity", result.embeds[0]["description"])
    assert listed and ids[0] not in listed
    stored = {item["paper"]["id"] for item in items}
    assert set(listed) <= stored


async def test_controls_in_dms_count_for_that_user_only(world: World, items):
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    await world.alerts("add", user_id=world.member_id, query=QUERY)
    world.hf.publish(today(), items[30:])
    await world.emulator.wait_until(lambda: world.emulator.dm_channel_id(world.member_id) is not None)
    dm = world.emulator.dm_channel_id(world.member_id)
    assert dm is not None
    (message,) = await world.emulator.wait_for_messages(dm, 1)
    ids = arxiv_ids([message])
    result = await world.emulator.click(
        user_id=world.member_id, message=message, custom_id="papers:like", values=[ids[0]]
    )
    assert "You liked" in result.content
    mine = await world.bot.store.feedback_counts(Target(Scope.USER, world.member_id), ids[0])
    assert mine.likes == 1
    channel = await world.bot.store.feedback_counts(Target(Scope.GUILD, world.channel_id), ids[0])
    assert channel.likes == 0


async def test_a_digest_offers_its_papers_in_selects(world: World, items):
    clock = world.clock = FakeClock(datetime(2026, 11, 2, 6, 0, tzinfo=UTC))
    world.hf.publish(clock.day(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    clock.advance(minutes=1)
    await world.subscriptions("add", query=QUERY, schedule="daily")
    world.hf.publish(clock.day(), items[30:])
    await world.polls_completed(2)
    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))
    (digest,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    listed = re.findall(r"huggingface\.co/papers/(\d{4}\.\d{5})", digest["embeds"][0]["description"])
    selects = [row["components"][0] for row in digest["components"]]
    assert [s["custom_id"] for s in selects] == [f"papers:{a}" for a in ACTIONS]
    assert [o["value"] for o in selects[0]["options"]] == listed  # in the digest's order
    saved = await world.emulator.click(
        user_id=world.member_id, message=digest, custom_id="papers:save", values=[listed[-1]]
    )
    assert "to your DMs" in saved.content
