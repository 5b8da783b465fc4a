"""SIGTERM (what ``docker stop`` sends) in the middle of a delivery: the bot finishes the messages in flight,
starts no new one, closes the gateway and the database, and exits 0; the next start finishes the rest, once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import aiosqlite
import pytest

from tests.e2e.conftest import World, arxiv_ids, today
from tests.e2e.test_crash_recovery import ROOT, BotProcess, _successes, subscribe_and_publish

STOP_BUDGET_SECONDS = 10.0  # Docker's default between SIGTERM and SIGKILL


async def _outbox_statuses(db: Path) -> Counter[str]:
    async with aiosqlite.connect(db) as conn:
        rows = await conn.execute_fetchall("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
    return Counter({status: count for status, count in rows})


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_stop_signal_mid_delivery_finishes_the_batch_and_exits_0(world: World, items, tmp_path, sig):
    channels = [world.channel_id, world.other_channel_id] + [
        world.emulator.add_channel(world.guild_id, f"feed-{n}") for n in range(6)
    ]
    # Discord's per-channel limit (5 messages per 5 s) makes the delivery last long enough to interrupt.
    world.emulator.enforce_rate_limits()
    world.hf.publish(today(), items[:5])
    bot = BotProcess(world, tmp_path)
    await bot.start()
    try:
        while await _successes(world.db_path) < 1:
            await asyncio.sleep(0.1)
        want = await subscribe_and_publish(world, channels, items[5:])
        posts = lambda: len(world.emulator.find_requests("POST", r"/channels/\d+/messages"))  # noqa: E731
        await world.wait_until(lambda: posts() > 0, timeout=30)

        assert bot.proc is not None
        started = asyncio.get_running_loop().time()
        bot.proc.send_signal(sig)
        code = await asyncio.wait_for(bot.proc.wait(), 30)
        took = asyncio.get_running_loop().time() - started
        assert code == 0
        assert took < STOP_BUDGET_SECONDS, took
        statuses = await _outbox_statuses(world.db_path)
        assert statuses["sending"] == 0, statuses  # nothing half-done: every message started was finished
        assert statuses["pending"] > 0, statuses  # it was stopped mid-delivery: the rest waits for the next start
        log = bot.log.read_text(errors="replace")
        assert f"{sig.name} received" in log and "stopped cleanly" in log, log[-2000:]
        assert "Traceback" not in log, log
        print(f"stopped in {took:.1f}s with outbox {dict(statuses)}")

        await bot.start()
        await world.wait_until(
            lambda: all(len(arxiv_ids(world.emulator.messages(c))) >= len(want) for c in channels), timeout=90
        )
        await asyncio.sleep(1.0)  # anything doubled would show up now
        for channel in channels:
            counts = Counter(arxiv_ids(world.emulator.messages(channel)))
            assert sorted(counts) == want, channel
            assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v > 1}
    finally:
        await bot.stop()


async def test_a_rejected_token_still_exits_2_with_one_line(world: World, tmp_path):
    bot = BotProcess(world, tmp_path)
    env = {**os.environ, "DISCORD_TOKEN": "not-the-bot-token", "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(bot.config),
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert err.decode().strip().splitlines()[-1].startswith("paperbot: Discord rejected the token"), err
