"""Self-test: clicking buttons on the bot's messages, the way the Discord client would."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.devtools.emulator import DiscordEmulator
from tests.devtools.conftest import Ballot, Counter, Pager, World


def buttons(message: dict[str, Any]) -> dict[str, bool]:
    """custom_id -> disabled for a message's buttons."""
    return {c["custom_id"]: bool(c.get("disabled")) for row in message["components"] for c in row["components"]}


async def test_click_pages_an_ephemeral_reply(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.pleb, name="pager", guild_id=world.guild_id)
    assert result.response_type == 4 and result.ephemeral
    msg = result.message
    assert msg["flags"] & 64 and msg["channel_id"] == str(world.general)
    assert msg["content"] == "Page 1/3" and buttons(msg) == {"prev": True, "next": False}

    first = await emu.click(user_id=world.pleb, message=msg, custom_id="next")
    assert first.response_type == 7 and first.ephemeral
    assert first.data["id"] == msg["id"] and first.message["id"] == msg["id"]
    assert first.content == "Page 2/3" and first.embeds[0]["description"] == "beta"
    assert buttons(first.message) == {"prev": False, "next": False}
    seen = world.bot.component_interactions[-1]
    assert seen.data == {"custom_id": "next", "component_type": 2}
    assert seen.message is not None and seen.message.id == int(msg["id"]) and seen.message.flags.ephemeral
    assert seen.message.interaction_metadata is not None
    assert seen.message.interaction_metadata.id == result.interaction_id

    second = await emu.click(user_id=world.pleb, message=first.message, custom_id="next")
    assert second.content == "Page 3/3" and second.embeds[0]["description"] == "gamma"
    assert buttons(second.message) == {"prev": False, "next": True}
    assert buttons(result.message) == {"prev": False, "next": True}  # the stored message was updated
    with pytest.raises(AssertionError, match="disabled"):
        await emu.click(user_id=world.pleb, message=msg, custom_id="next")  # the stale dict: state is current
    with pytest.raises(AssertionError, match="no component 'nope'"):
        await emu.click(user_id=world.pleb, message=msg, custom_id="nope")
    with pytest.raises(AssertionError, match="ephemeral"):
        await emu.click(user_id=world.admin, message=msg, custom_id="prev")  # others don't see it

    back = await emu.click(user_id=world.pleb, message=msg, custom_id="prev")  # type 6, then PATCH @original
    assert back.response_type == 6 and back.ephemeral and back.content == "Page 2/3"
    assert back.edits and back.data["id"] == msg["id"]
    assert buttons(back.message) == {"prev": False, "next": False}
    assert emu.messages(world.general, include_interaction_messages=True) == []


async def test_click_refused_by_interaction_check(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.pleb, name="pager", options={"public": True}, guild_id=world.guild_id)
    assert not result.ephemeral
    refused = await emu.click(user_id=world.admin, message=result.message, custom_id="next")
    assert refused.response_type == 4 and refused.ephemeral and refused.content == "This pager is not yours."
    assert refused.message["interaction_metadata"]["interacted_message_id"] == result.message["id"]
    assert result.message["content"] == "Page 1/3"
    ok = await emu.click(user_id=world.pleb, message=result.message, custom_id="next")
    assert ok.response_type == 7 and not ok.ephemeral and ok.content == "Page 2/3"
    [shown] = emu.messages(world.general, include_interaction_messages=True)  # the refusal was ephemeral
    assert shown["id"] == result.message["id"] and shown["content"] == "Page 2/3"


async def test_click_on_deferred_reply_and_followup(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.pleb, name="pager", options={"deferred": True}, guild_id=world.guild_id)
    assert result.response_type == 5 and result.ephemeral and result.content == "Page 1/3"
    assert result.message["content"] == "Page 1/3" and buttons(result.message) == {"prev": True, "next": False}
    await emu.wait_for_followups(result, 1)
    [followup] = result.followup_messages
    assert followup["id"] != result.message["id"] and buttons(followup) == {"prev": True, "next": False}
    clicked = await emu.click(user_id=world.pleb, message=followup, custom_id="next")
    assert clicked.data["id"] == followup["id"] and clicked.content == "Page 2/3"
    assert result.message["content"] == "Page 1/3"  # each message has its own view
    clicked = await emu.click(user_id=world.pleb, message=result.message, custom_id="next")
    assert clicked.data["id"] == result.message["id"] and clicked.content == "Page 2/3"


async def test_click_on_a_channel_message_with_a_persistent_view(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    view = Counter()
    await channel.send("clicks: 0", view=view)
    [msg] = emu.messages(world.general)
    first = await emu.click(user_id=world.pleb, message=msg, custom_id="counter:add")
    assert first.response_type == 7 and not first.ephemeral and first.content == "clicks: 1"
    view.stop()  # now only the persistent Counter added in setup_hook (no message id) can answer
    [msg] = emu.messages(world.general)
    assert msg["content"] == "clicks: 1"
    second = await emu.click(user_id=world.admin, message=msg, custom_id="counter:add")
    assert second.content == "clicks: 2" and emu.messages(world.general)[0]["content"] == "clicks: 2"
    acked = await emu.click(user_id=world.pleb, message=msg, custom_id="counter:ack", wait_for_edit=False)
    assert acked.response_type == 6 and acked.content == "clicks: 2"
    who = await emu.click(user_id=world.admin, message=msg, custom_id="counter:who")
    assert who.response_type == 4 and who.ephemeral and who.content == f"clicked by {world.admin}"

    pager = Pager(world.pleb)
    await channel.send("orphan", view=pager)
    pager.stop()  # nobody listens for its custom_ids any more: Discord shows "This interaction failed"
    with pytest.raises(TimeoutError):
        await emu.click(user_id=world.pleb, message=emu.messages(world.general)[-1], custom_id="next", timeout=0.3)


async def test_click_components_v2(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    await channel.send(view=Ballot())
    [msg] = emu.messages(world.general)
    assert msg["flags"] & (1 << 15)  # IS_COMPONENTS_V2
    assert DiscordEmulator.find_component(msg, "ballot:vote") is not None
    result = await emu.click(user_id=world.pleb, message=msg, custom_id="ballot:vote")
    assert result.response_type == 7
    texts = [c["content"] for c in DiscordEmulator.walk_components(result.components) if c["type"] == 10]
    assert texts == ["votes: 1"]
