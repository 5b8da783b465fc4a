"""Slash-command behaviour through the emulator: permissions, isolation, errors, preview, backfill, caps."""

from __future__ import annotations

import re

import pytest

from bot.devtools.emulator import MANAGE_CHANNELS
from tests.e2e.conftest import World, arxiv_ids, today

VIEW, SEND, EMBED = 1 << 10, 1 << 11, 1 << 14


async def _ready(world: World, items, count: int = 30) -> None:
    world.hf.publish(today(), items[:count])
    await world.start_bot()
    await world.polls_completed(1)


async def test_invalid_query_gets_a_clear_message(world: World, items):
    await _ready(world, items)
    for query, fragment in [
        ('"unbalanced', "quote"),
        ("(a OR b", "never closed"),
        ("-survey", "positive"),
        ("llm OR", "character 5"),
        ("x" * 301, "too long"),
    ]:
        result = await world.subscriptions("add", query=query)
        assert result.ephemeral and "can't be used" in result.content and fragment in result.content, result.content
        if query == "llm OR":  # where the parser knows the position, a caret points at it under the query
            assert "```\nllm OR\n    ^\n```\n" in result.content, result.content
    assert (await world.subscriptions("list")).content.startswith("No subscriptions")


async def test_member_needs_manage_channels_in_the_target_channel(world: World, items):
    # The moderator manages #papers (role) but an overwrite denies Manage Channels in #lab.
    world.emulator.update_channel(
        world.other_channel_id,
        overwrites=[{"id": world.moderator_id, "type": 1, "allow": "0", "deny": str(MANAGE_CHANNELS)}],
    )
    await _ready(world, items)
    refused = await world.subscriptions("add", query="attention", channel=world.other_channel_id)
    assert "Manage Channels" in refused.content and f"<#{world.other_channel_id}>" in refused.content
    allowed = await world.subscriptions("add", query="attention")
    assert "**#1**" in allowed.content


async def test_members_without_manage_channels_cannot_see_the_group(world: World, items):
    await _ready(world, items)
    with pytest.raises(PermissionError):
        await world.subscriptions("list", user_id=world.member_id)


async def test_bot_must_be_able_to_post_in_the_target(world: World, items):
    guild = world.emulator.guilds[world.guild_id]
    world.emulator.update_channel(
        world.other_channel_id, overwrites=[{"id": guild.bot_role_id, "type": 0, "allow": "0", "deny": str(EMBED)}]
    )
    await _ready(world, items)
    refused = await world.subscriptions("add", query="attention", channel=world.other_channel_id)
    assert "Embed Links" in refused.content and "missing" in refused.content


async def test_other_guilds_cannot_see_or_touch_subscriptions(world: World, items):
    world.config = {"discord": {"dev_guild_id": 0}}  # global commands, visible in both servers
    emulator = world.emulator
    other = emulator.add_guild("Other lab")
    other_channel = emulator.add_channel(other.id, "general")
    role = emulator.add_role(other.id, "admins", MANAGE_CHANNELS)
    intruder = emulator.add_member(other.id, name="intruder", roles=[role])
    await _ready(world, items)
    await world.subscriptions("add", query="attention")

    for sub in ("remove", "pause", "resume"):
        result = await emulator.invoke(
            user_id=intruder,
            name="subscriptions",
            subcommand=sub,
            options={"subscription": 1},
            guild_id=other.id,
            channel_id=other_channel,
        )
        assert "#1 was not found" in result.content
    listed = await emulator.invoke(
        user_id=intruder, name="subscriptions", subcommand="list", guild_id=other.id, channel_id=other_channel
    )
    assert listed.content.startswith("No subscriptions")
    choices = await emulator.autocomplete(
        user_id=intruder,
        name="subscriptions",
        subcommand="remove",
        options={"subscription": ""},
        focused="subscription",
        guild_id=other.id,
        channel_id=other_channel,
    )
    assert choices == []
    mine = await emulator.autocomplete(
        user_id=world.moderator_id,
        name="subscriptions",
        subcommand="remove",
        options={"subscription": "att"},
        focused="subscription",
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert [c["value"] for c in mine] == [1] and mine[0]["name"].startswith("#1 · attention")
    assert (await world.subscriptions("list")).embeds  # still there for its owner


async def test_pause_resume_remove(world: World, items):
    await _ready(world, items)
    await world.subscriptions("add", query="attention")
    assert "paused" in (await world.subscriptions("pause", subscription=1)).content
    listed = (await world.subscriptions("list")).embeds[0]["description"]
    assert "paused (paused by a moderator)" in listed
    world.hf.publish(today(), items[30:])
    await world.polls_completed(2)
    assert world.emulator.messages(world.channel_id) == []  # paused: collects nothing
    assert "resumed" in (await world.subscriptions("resume", subscription=1)).content
    assert "removed" in (await world.subscriptions("remove", subscription=1)).content
    assert "not found" in (await world.subscriptions("remove", subscription=1)).content


async def test_preview_and_backfill(world: World, items):
    await _ready(world, items, count=71)
    preview = await world.subscriptions("preview", query="ti:attention")
    # Oracle: the title word and its Porter-stemmed relatives ("Self-Attentive" stems like "attention").
    want = [i["paper"]["id"] for i in items if re.search(r"\battenti(?:on|ons|ve)\b", i["paper"]["title"], re.I)]
    assert f"**{len(want)}** stored papers" in preview.content and "showing the newest 10" in preview.content
    shown = arxiv_ids([{"embeds": preview.embeds}])
    assert len(shown) == 10 and set(shown) <= set(want)

    added = await world.subscriptions("add", query="ti:attention", backfill=2)
    assert "Sending the 2 most recent stored matches now" in added.content
    messages = await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    posted = arxiv_ids(world.emulator.messages(world.channel_id))
    assert len(posted) == 2 and set(posted) <= set(want)
    assert len(messages) == 1


async def test_subscription_cap(world: World, items):
    world.config = {"limits": {"subscriptions_per_guild": 2}}
    await _ready(world, items)
    for n in (1, 2):
        assert f"**#{n}**" in (await world.subscriptions("add", query=f"topic{n}")).content
    third = await world.subscriptions("add", query="topic3")
    assert "already has 2 subscriptions" in third.content
