"""``/subscriptions add mention:<role>``: exactly that role is pinged when the subscription's papers arrive, as
the emulator received the message; the bot refuses a role it could not ping, storing nothing."""

from __future__ import annotations

from bot.devtools.emulator import MENTION_EVERYONE
from tests.e2e.conftest import World, arxiv_ids, today
from tests.e2e.test_subscriptions import QUERY, expected_ids


def _roles(allowed: dict) -> list[int]:
    return sorted(int(r) for r in allowed.get("roles") or [])


async def _ready(world: World, items) -> None:
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)


async def test_the_subscriptions_role_and_only_it_is_pinged(world: World, items):
    readers = world.emulator.add_role(world.guild_id, "readers", mentionable=True)
    await _ready(world, items)
    added = await world.subscriptions("add", query=QUERY, mention=readers)
    assert "**#1**" in added.content and f"pings <@&{readers}>" in added.content, added.content
    plain = await world.subscriptions("add", query=QUERY, channel=world.other_channel_id)  # no mention
    assert "**#2**" in plain.content
    world.hf.publish(today(), items[30:])
    want = expected_ids(items[30:])
    assert want
    await world.wait_until(lambda: sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == sorted(want))
    await world.wait_until(lambda: sorted(arxiv_ids(world.emulator.messages(world.other_channel_id))) == sorted(want))
    for message in world.emulator.messages(world.channel_id):
        assert message["content"] == f"<@&{readers}>"
        assert message["allowed_mentions"]["parse"] == [] and _roles(message["allowed_mentions"]) == [readers]
        assert message["mention_roles"] == [str(readers)] and not message["mention_everyone"]
    for message in world.emulator.messages(world.other_channel_id):
        assert message["content"] == "" and message["mention_roles"] == []
        assert message["allowed_mentions"]["parse"] == [] and not message["allowed_mentions"].get("roles")


async def test_subscriptions_sharing_a_message_ping_the_union_of_their_roles(world: World, items):
    first = world.emulator.add_role(world.guild_id, "nlp", mentionable=True)
    second = world.emulator.add_role(world.guild_id, "systems", mentionable=True)
    await _ready(world, items)
    await world.subscriptions("add", query=QUERY, mention=first)
    await world.subscriptions("add", query='"attention sink" OR "long context"', mention=second)
    world.hf.publish(today(), items[30:])
    want = expected_ids(items[30:])
    await world.wait_until(lambda: sorted(arxiv_ids(world.emulator.messages(world.channel_id))) == sorted(want))
    for message in world.emulator.messages(world.channel_id):  # each paper once, both roles pinged
        assert sorted(message["mention_roles"], key=int) == sorted([str(first), str(second)], key=int)
        assert _roles(message["allowed_mentions"]) == sorted([first, second])
        assert message["allowed_mentions"]["parse"] == []
        assert {e["footer"]["text"].split(" · ")[1] for e in message["embeds"]} == {"subscription #1, #2"}


async def test_a_role_the_bot_cannot_ping_is_refused_and_nothing_is_stored(world: World, items):
    quiet = world.emulator.add_role(world.guild_id, "quiet")  # not mentionable
    await _ready(world, items)
    refused = await world.subscriptions("add", query=QUERY, mention=quiet)
    assert refused.ephemeral and "can't ping" in refused.content and "Mention Everyone" in refused.content
    assert (await world.subscriptions("list")).content.startswith("No subscriptions")
    everyone = await world.subscriptions("add", query=QUERY, mention=world.guild_id)
    assert "@everyone is not offered" in everyone.content
    # With Mention Everyone in that channel the bot may ping any role: accepted, and the ping goes through.
    bot_role = world.emulator.guilds[world.guild_id].bot_role_id
    world.emulator.update_channel(
        world.channel_id, overwrites=[{"id": bot_role, "type": 0, "allow": str(MENTION_EVERYONE), "deny": "0"}]
    )
    await world.wait_until(lambda: world.bot.get_channel(world.channel_id).overwrites != {})
    accepted = await world.subscriptions(
        "add", query=QUERY, mention=quiet, channel_id=world.other_channel_id, channel=world.channel_id
    )
    assert "**#1**" in accepted.content, accepted.content
    world.hf.publish(today(), items[30:])
    (message, *_) = await world.emulator.wait_for_messages(world.channel_id, 1)
    assert message["mention_roles"] == [str(quiet)]
