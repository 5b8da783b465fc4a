"""Security properties end to end: cooldowns, per-server settings, the token never logged."""

from __future__ import annotations

import logging

from bot.devtools.emulator import MANAGE_CHANNELS, DiscordEmulator
from tests.e2e.conftest import World, today


async def test_per_user_cooldown(world: World, items):
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    replies = [(await world.subscriptions("list")).content for _ in range(6)]
    assert all(r.startswith("No subscriptions") for r in replies[:5])
    assert replies[5].startswith("Slow down a little")
    other = await world.subscriptions("list", user_id=world.emulator.owner_id)  # someone else is not slowed
    assert other.content.startswith("No subscriptions")


async def test_settings_are_per_server(world: World, items):
    world.config = {"discord": {"dev_guild_id": 0}}
    emulator = world.emulator
    other = emulator.add_guild("Other lab")
    other_channel = emulator.add_channel(other.id, "general")
    admin = emulator.add_member(other.id, name="admin", roles=[emulator.add_role(other.id, "a", MANAGE_CHANNELS)])
    await world.start_bot()
    changed = await emulator.invoke(
        user_id=admin,
        name="subscriptions",
        subcommand="settings",
        options={"timezone": "Asia/Tokyo", "digest_time": "08:00"},
        guild_id=other.id,
        channel_id=other_channel,
    )
    assert "Asia/Tokyo" in changed.content
    mine = await world.subscriptions("settings")
    assert "09:00 (UTC)" in mine.content and "Tokyo" not in mine.content


async def test_token_never_appears_in_logs(world: World, items, caplog):
    caplog.set_level(logging.DEBUG)
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    await world.subscriptions("add", query="attention")
    world.hf.publish(today(), items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.emulator.drop_gateway()
    await world.polls_completed(1)
    await world.stop_bot()
    assert len(caplog.records) > 50
    assert DiscordEmulator.BOT_TOKEN not in caplog.text
