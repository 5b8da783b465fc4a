"""``paperbot run --log-format json|text --log-level``: the real bot as a subprocess against the emulator. Every
line about a poll or a delivery carries its context; no colour codes when the output is not a terminal; the
token never appears."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.devtools.emulator import DiscordEmulator
from tests.e2e.conftest import World, today
from tests.e2e.test_crash_recovery import BotProcess, _successes


async def _run_bot(world: World, tmp_path: Path, items, *flags: str) -> str:
    """Run ``python -m bot run`` with ``flags`` until a subscription's papers were delivered; its log (a file, as
    with ``docker logs`` or a redirect: not a terminal)."""
    world.hf.publish(today(), items[:5])
    bot = BotProcess(world, tmp_path, *flags)
    await bot.start()
    try:
        while await _successes(world.storage) < 1:
            await asyncio.sleep(0.1)
        added = await world.subscriptions("add", query="attention OR prompt*")
        assert "added" in added.content, added.content
        world.hf.publish(today(), items[5:])
        await world.emulator.wait_for_messages(world.channel_id, 1, timeout=30)
        await asyncio.sleep(0.5)  # the log line after the send
    finally:
        await bot.stop()
    return bot.log.read_text(errors="replace")


async def test_json_logs_carry_poll_and_delivery_context(world: World, items, tmp_path):
    text = await _run_bot(world, tmp_path, items, "--log-format", "json", "--log-level", "DEBUG")
    assert DiscordEmulator.BOT_TOKEN not in text
    assert "\x1b[" not in text
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    assert {e["level"] for e in entries} >= {"DEBUG", "INFO"}
    polls = [e for e in entries if e["logger"] == "bot.engine" and "listed" in e["message"]]
    assert polls and all(e["source"] == "huggingface" for e in polls), polls
    sent = [e for e in entries if e["message"].startswith("sent message")]
    assert sent, [e["message"] for e in entries]
    first = sent[0]
    assert first["target"] == f"channel:{world.channel_id}" and first["subscription"] == [1]
    posted = {
        e["footer"]["text"].rsplit(" ", 1)[-1] for m in world.emulator.messages(world.channel_id) for e in m["embeds"]
    }
    assert set(first["paper"]) <= posted and first["paper"]


async def test_text_logs_have_context_and_no_colour_when_not_a_terminal(world: World, items, tmp_path):
    text = await _run_bot(world, tmp_path, items)  # defaults: text, INFO
    assert "\x1b[" not in text, text[:500]
    assert DiscordEmulator.BOT_TOKEN not in text
    assert " DEBUG " not in text
    lines = text.splitlines()
    assert any("bot.engine: huggingface:" in line and line.endswith("[source=huggingface]") for line in lines)
    sent = [line for line in lines if "sent message" in line]
    assert sent and f"target=channel:{world.channel_id}" in sent[0] and "subscription=1" in sent[0], sent
