"""The gateway drops, asks for a reconnect, or invalidates the session mid-run: the bot keeps working."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import World, arxiv_ids, today
from tests.e2e.test_subscriptions import QUERY, expected_ids


@pytest.mark.slow
async def test_bot_survives_gateway_faults(world: World, items):
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    await world.subscriptions("add", query=QUERY)
    emulator = world.emulator
    identifies, resumes = emulator.identify_count, emulator.resume_count

    await emulator.drop_gateway()  # socket closed: discord.py resumes
    world.hf.publish(today(), items[30:50])
    await world.wait_until(lambda: emulator.resume_count > resumes, timeout=20)
    assert "**#1**" in (await world.subscriptions("list")).embeds[0]["description"]

    await emulator.send_reconnect()  # op 7
    await world.wait_until(lambda: emulator.resume_count > resumes + 1, timeout=20)

    await emulator.invalidate_session(resumable=False)  # op 9: re-IDENTIFY (discord.py waits ~5 s first)
    world.hf.publish(today(), items[50:])
    await world.wait_until(lambda: emulator.identify_count > identifies, timeout=30)
    listed = await world.subscriptions("list")
    assert "**#1**" in listed.embeds[0]["description"]

    want = sorted(expected_ids(items[30:]))
    await world.wait_until(lambda: len(arxiv_ids(emulator.messages(world.channel_id))) >= len(want), timeout=20)
    await world.outbox_drained()
    await world.polls_completed(1)
    assert sorted(arxiv_ids(emulator.messages(world.channel_id))) == want
