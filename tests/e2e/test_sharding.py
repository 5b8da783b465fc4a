"""Sharded bot processes, through the real discord.py client (``AutoShardedBot``) and the emulator's shards.

(a) One process running every shard answers every guild and DMs and delivers everywhere. (b) A process given
``shard_ids = [1]`` of 2 identifies only shard 1, answers only its guilds and delivers only their papers; the
other guilds' and the DMs' rows wait in the outbox until the process with shard 0 runs, and arrive exactly once.
Processes share one SQLite file one after another (at the same time needs PostgreSQL: see README).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.emulator import DiscordEmulator
from bot.devtools.world import Server
from tests.devtools.test_emulator_shards import raw_shard
from tests.e2e.conftest import World, arxiv_ids, today
from tests.e2e.test_subscriptions import QUERY, expected_ids

ROOT = Path(__file__).resolve().parents[2]


def _servers(world: World, count: int) -> list[Server]:
    """The test's server and ``count - 1`` more; consecutive guilds land on consecutive shards."""
    return [world.server] + [world.loopback.add_server(f"Lab {i}", ["papers"]) for i in range(1, count)]


def _shard(server: Server, count: int) -> int:
    return (server.guild_id >> 22) % count


async def _start(world: World, server: Server, discord: dict[str, Any]) -> None:
    """Start a bot with these ``[discord]`` keys, global commands; ``server`` must be on one of its shards."""
    world.server = server
    world.config = {"discord": {"dev_guild_id": 0, **discord}}
    await world.start_bot()


async def _subscribe(world: World, server: Server, timeout: float = 10) -> Any:
    return await world.emulator.invoke(
        user_id=server.moderator_ids[0],
        name="subscriptions",
        subcommand="add",
        options={"query": QUERY},
        guild_id=server.guild_id,
        channel_id=server.channel_ids[0],
        timeout=timeout,
    )


async def _alert(world: World, user_id: int, timeout: float = 10) -> Any:
    return await world.emulator.invoke(
        user_id=user_id, name="alerts", subcommand="add", options={"query": QUERY}, timeout=timeout
    )


def _delivered(world: World, channel_id: int | None) -> Counter[str]:
    return Counter() if channel_id is None else Counter(arxiv_ids(world.emulator.messages(channel_id)))


@pytest.mark.parametrize("configured", [True, False], ids=["shard_count=3", "recommended=3"])
async def test_one_process_with_three_shards_serves_every_guild_and_dms(world: World, items, configured: bool):
    servers = _servers(world, 3)
    assert sorted(_shard(s, 3) for s in servers) == [0, 1, 2]
    world.emulator.shard_count = 3  # what GET /gateway/bot recommends
    world.hf.publish(today(), items[:30])
    await _start(world, world.server, {"shard_count": 3} if configured else {})
    await world.wait_until(lambda: world.emulator.live_shards() == [0, 1, 2], timeout=40)
    assert sorted(world.emulator.identified_shards) == [(0, 3), (1, 3), (2, 3)]
    await world.polls_completed(1)  # the backlog is catalogued

    for server in servers:
        assert "Subscription **#" in (await _subscribe(world, server)).content
    reader = world.emulator.add_user("reader")
    assert "Alert **#" in (await _alert(world, reader)).content
    for shard in range(3):  # each guild's command went to its own shard, the DM one to shard 0
        got = [e["d"].get("guild_id") for e in world.emulator.dispatched(shard) if e["t"] == "INTERACTION_CREATE"]
        want = [str(s.guild_id) for s in servers if _shard(s, 3) == shard] + ([None] if shard == 0 else [])
        assert got == want

    world.hf.publish(today(), items)
    want = Counter(expected_ids(items[30:]))
    assert len(want) == 3
    await world.wait_until(lambda: world.emulator.dm_channel_id(reader) is not None, timeout=20)
    for channel in [s.channel_ids[0] for s in servers] + [world.emulator.dm_channel_id(reader)]:
        await world.wait_until(lambda c=channel: _delivered(world, c) == want, timeout=20)
    await world.outbox_drained()
    await world.polls_completed(1)
    assert all(_delivered(world, s.channel_ids[0]) == want for s in servers)  # once, not again


async def test_a_process_serves_only_its_shards_and_the_rest_waits_for_the_other(world: World, items):
    servers = _servers(world, 3)
    mine = [s for s in servers if _shard(s, 2) == 1]  # process A: shard_ids = [1]
    others = [s for s in servers if _shard(s, 2) == 0]  # process B: shard_ids = [0] (and DMs)
    assert mine and others
    reader = world.emulator.add_user("reader")
    world.hf.publish(today(), items[:30])

    # B subscribes its guilds and takes the DM alert; it cannot hear A's guilds.
    await _start(world, others[0], {"shard_count": 2, "shard_ids": [0]})
    assert world.emulator.identified_shards == [(0, 2)]
    await world.polls_completed(1)  # the backlog is catalogued
    for server in others:
        await _subscribe(world, server)
    await _alert(world, reader)
    with pytest.raises(TimeoutError, match="no bot is connected on guild"):
        await _subscribe(world, mine[0], timeout=2)
    await world.stop_bot()

    # A: only shard 1; its guilds answered, B's guilds and DMs not.
    await _start(world, mine[0], {"shard_count": 2, "shard_ids": [1]})
    assert world.emulator.identified_shards[1:] == [(1, 2)]
    assert world.emulator.live_shards() == [1]
    assert world.bot is not None and {g.id for g in world.bot.guilds} == {s.guild_id for s in mine}
    for server in mine:
        await _subscribe(world, server)
    with pytest.raises(TimeoutError, match="no bot is connected on guild"):
        await _subscribe(world, others[0], timeout=2)
    with pytest.raises(TimeoutError, match=r"shard 0 \(DMs\)"):
        await _alert(world, reader, timeout=2)

    world.hf.publish(today(), items)
    want = Counter(expected_ids(items[30:]))
    assert len(want) == 3
    for server in mine:
        await world.wait_until(lambda c=server.channel_ids[0]: _delivered(world, c) == want, timeout=20)
    await world.polls_completed(2)  # several polls and drains later, B's targets still have nothing
    for server in others:
        assert world.emulator.messages(server.channel_ids[0]) == []
    assert _delivered(world, world.emulator.dm_channel_id(reader)) == Counter()
    assert await world.bot.store.outbox_depth() == len(want) * (len(others) + 1)  # waiting, not lost
    await world.stop_bot()

    # B again, on the same database: the waiting rows arrive once; A's guilds get nothing twice.
    await _start(world, others[0], {"shard_count": 2, "shard_ids": [0]})
    for server in others:
        await world.wait_until(lambda c=server.channel_ids[0]: _delivered(world, c) == want, timeout=20)
    await world.wait_until(lambda: _delivered(world, world.emulator.dm_channel_id(reader)) == want, timeout=20)
    await world.outbox_drained()
    await world.polls_completed(1)
    for server in servers:
        assert _delivered(world, server.channel_ids[0]) == want
    assert _delivered(world, world.emulator.dm_channel_id(reader)) == want


async def _run_cli(world: World, tmp_path: Path, shard_lines: list[str]) -> tuple[int | None, str]:
    """``paperbot run`` in a subprocess against the world; (exit status, stderr) once it ends."""
    raw = world.loopback.settings(tmp_path / "p.db", 0)
    config = tmp_path / "c.toml"
    discord, hf = raw["discord"], raw["sources"]["huggingface"]
    config.write_text(
        f'[discord]\napi_base_url = "{discord["api_base_url"]}"\ngateway_url = "{discord["gateway_url"]}"\n'
        + "".join(f"{line}\n" for line in shard_lines)
        + f'[storage]\npath = "{raw["storage"]["path"]}"\n[sources.huggingface]\nurl = "{hf["url"]}"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "PAPERBOT_CONFIG"}
    env.update({"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": DiscordEmulator.BOT_TOKEN})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(config), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, stderr.decode()


async def test_a_second_process_on_a_running_shard_stops_with_a_message(world: World, tmp_path):
    """``paperbot run`` with a shard another process runs: Discord's 4010 ends it with one line saying what to fix."""
    _servers(world, 2)
    async with raw_shard(world.emulator, [0, 2]) as running:  # shard 0 is taken
        await running.read_until(lambda: any(t == "READY" for t, _ in running.events))
        status, stderr = await _run_cli(world, tmp_path, ["shard_count = 2", "shard_ids = [0]"])
    assert status == 2, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("paperbot: Discord closed shard 0's gateway connection: 4010 Invalid shard:"), last
    assert "discord.shard_ids" in last and "Traceback" not in stderr
    assert world.emulator.refused_identifies == [(4010, "Invalid shard.")]


async def test_too_few_shards_for_the_servers_stops_with_a_message(world: World, tmp_path):
    """Discord's 4011 (a shard would hold too many servers) names the key to raise."""
    _servers(world, 3)
    world.emulator.max_guilds_per_shard = 1
    status, stderr = await _run_cli(world, tmp_path, ["shard_count = 2"])  # 3 servers on 2 shards: one has 2
    assert status == 2, stderr
    last = stderr.strip().splitlines()[-1]
    assert "4011 Sharding required" in last and "raise discord.shard_count" in last, last
    assert "Traceback" not in stderr
