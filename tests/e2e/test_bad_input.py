"""Hostile and odd text in every free-text command option: always a clear reply, never a crash or a ping."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import World, today

NASTY = [
    " ",
    "x" * 5000,
    "\u200b\u200b",  # zero-width spaces only
    "\u202eevil\u202c rtl",  # right-to-left override
    "**bold** `code` ||spoiler|| [link](https://evil.example)",
    "@everyone @here",
    "<@123456789012345678> <@&987654321098765432> <#1>",
    "'; DROP TABLE papers; --",
    "😀🧪 模型 注意力",
    'ti:"unclosed',
    "((((((((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))))))))",
    "NOT NOT NOT a",
    "a" * 301,
    "cat:cs.* OR au:* OR -",
]


def _assert_clean_reply(result) -> None:
    assert result.ephemeral, result.content
    assert "Something went wrong" not in result.content, result.content
    assert result.content or result.embeds
    assert result.data.get("allowed_mentions", {"parse": []}) == {"parse": []}


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
async def test_free_text_options_never_break(world: World, items, text: str):
    world.config = {"discord": {"dev_guild_id": 0}}
    world.hf.publish(today(), items[:10])
    if world.bot is None:
        await world.start_bot()
    await world.polls_completed(1)
    emulator, guild, channel = world.emulator, world.guild_id, world.channel_id
    forum = emulator.add_forum(guild, "forum", tags=["nlp", "vision"])
    calls = [
        ("subscriptions", "add", {"query": text}, world.moderator_id),
        ("subscriptions", "preview", {"query": text}, world.moderator_id),
        ("subscriptions", "settings", {"timezone": text}, emulator.owner_id),  # needs Manage Server
        ("subscriptions", "settings", {"digest_time": text}, emulator.owner_id),
        ("alerts", "add", {"query": text}, world.member_id),
        ("papers", "search", {"query": text}, world.member_id),
        ("papers", "explain", {"paper": text}, world.member_id),
        ("subscriptions", "add", {"query": "llm", "channel": forum, "tags": text}, world.moderator_id),
    ]
    for name, sub, options, user in calls:
        result = await emulator.invoke(
            user_id=user, name=name, subcommand=sub, options=options, guild_id=guild, channel_id=channel
        )
        _assert_clean_reply(result)
    shown = await emulator.invoke(
        user_id=world.member_id,
        name="papers",
        subcommand="show",
        options={"id": text},
        guild_id=guild,
        channel_id=channel,
    )
    _assert_clean_reply(shown)  # unknown ids are answered privately
    assert emulator.internal_errors == []
