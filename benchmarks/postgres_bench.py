"""The store-touching figures on PostgreSQL, beside SQLite's in the same run (``benchmarks/run.py --postgres``):
figure 4 (the outbox drained through the emulator), the database build and figures 5-6 (the bot as its own
process on a big database), and the cluster's delivery rate — two ``python -m bot run`` processes, one per
shard, sharing one database and Discord's global rate limit.

A throwaway PostgreSQL cluster is started for the run (``bot/devtools/postgres.py``: ``initdb`` on a free
loopback port, fsync off) and removed afterwards. Figures 1-3 match in memory and do not touch the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.delivery import MATCH_EVERYTHING, MESSAGE_POSTS, delivery_row, measure_drain
from benchmarks.report import Row, secs
from benchmarks.scale import Scale
from benchmarks.startup import database_row, startup_rows, stop_process
from benchmarks.workload import PaperGenerator, hf_item
from benchmarks.world import build_database, successful_polls, today, toml, wait_for
from bot.app import CLUSTER_REQUESTS_PER_SECOND
from bot.devtools.emulator import DiscordEmulator
from bot.devtools.postgres import Cluster, find_binaries
from bot.devtools.world import LoopbackWorld, Server
from bot.matching import parse_query
from bot.models import Scope
from bot.sharding import shard_of
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_PROCESSES = 2  # one per shard
CLUSTER_SEED = 410
TAG = " [PostgreSQL]"


def postgres_rows(scale: Scale, workdir: Path, texts: Sequence[str]) -> list[Row]:
    """Figures 4-6 on PostgreSQL and the cluster's delivery rate; one row saying why when PostgreSQL is absent."""
    bin_dir = find_binaries()
    if bin_dir is None:
        return [Row("PostgreSQL figures" + TAG, "skipped", "-", "-", None, ["initdb/pg_ctl not found"])]
    cluster = Cluster.start(bin_dir)
    try:
        rows = [
            delivery_row(
                scale,
                asyncio.run(measure_drain(scale, workdir, None, cluster.create_database())),
                "default delivery.interval 5 s",
            )
        ]
        if texts:
            db = asyncio.run(
                build_database(workdir / "unused.db", texts, scale.stored_papers, cluster.create_database())
            )
            rows += [database_row(scale, db), *startup_rows(scale, db, workdir)]
        rows.append(_cluster_row(scale, asyncio.run(_cluster_drain(scale, workdir, cluster.create_database()))))
    finally:
        cluster.stop()
    rows[0].notes.append(
        f"a bot on PostgreSQL paces itself at the cluster's {CLUSTER_REQUESTS_PER_SECOND:g} requests/s even alone "
        '(README, "One global rate"): the 45 req/s target is a single SQLite process\'s'
    )
    return [dataclasses.replace(row, figure=row.figure + TAG) for row in rows]


def _servers_per_shard(world: LoopbackWorld, channels: int) -> list[Server]:
    """One bench server on each shard, ``channels`` channels in all."""
    by_shard: dict[int, Server] = {}
    n = 0
    while len(by_shard) < CLUSTER_PROCESSES:
        names = [f"papers-{i}" for i in range(channels // CLUSTER_PROCESSES)]
        server = world.add_server(f"Cluster bench {n}", names, moderators=(), members=())
        by_shard.setdefault(shard_of(server.guild_id, CLUSTER_PROCESSES), server)
        n += 1
    return [by_shard[shard] for shard in range(CLUSTER_PROCESSES)]


async def _start_process(world: LoopbackWorld, workdir: Path, url: str, shard: int) -> asyncio.subprocess.Process:
    """``python -m bot run`` for one shard of the cluster, on the shared database."""
    raw = world.settings(
        workdir / "unused.db",
        0,
        {"sources": {"huggingface": {"poll_interval": 1}}, "storage": {"url": url}},
        {"discord": {"shard_count": CLUSTER_PROCESSES, "shard_ids": [shard]}},
    )
    config = workdir / f"cluster-{shard}.toml"
    config.write_text(toml(raw) + "\n", encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": DiscordEmulator.BOT_TOKEN, "PYTHONUNBUFFERED": "1"}
    with (workdir / f"cluster-{shard}.log").open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--config", str(config), cwd=str(ROOT), env=env, stderr=log
        )


async def _cluster_drain(scale: Scale, workdir: Path, url: str) -> dict[str, float]:
    async with LoopbackWorld() as world:
        emulator, hf = world.emulator, world.hf
        servers = _servers_per_shard(world, scale.channels)
        store = await Store.open(url)
        try:
            for server in servers:
                for channel_id in server.channel_ids:
                    await store.add_subscription(
                        scope=Scope.GUILD,
                        user_id=emulator.owner_id,
                        query=parse_query(MATCH_EVERYTHING).text,
                        now=datetime.now(UTC) - timedelta(hours=1),
                        guild_id=server.guild_id,
                        channel_id=channel_id,
                    )
            emulator.enforce_rate_limits(global_per_second=50, channel_messages=(5, 5.0))
            processes = [await _start_process(world, workdir, url, shard) for shard in range(CLUSTER_PROCESSES)]
            try:
                await wait_for(lambda: emulator.live_shards() == list(range(CLUSTER_PROCESSES)), 120, "both shards")
                await wait_for(lambda: successful_polls(store), 60, "the first (cataloguing) poll")
                papers = PaperGenerator(CLUSTER_SEED, id_block=41).papers(scale.delivery_papers)
                hf.publish(today(), [hf_item(p) for p in papers])
                published = time.monotonic()
                channels = [c for server in servers for c in server.channel_ids]
                expected = len(papers) * len(channels)

                def delivered() -> bool:
                    posts = emulator.find_requests("POST", MESSAGE_POSTS)
                    return sum(len(r.json["embeds"]) for r in posts if r.status == 200) >= expected

                await wait_for(delivered, 120 + expected / 5, "every paper in every channel", interval=0.2)
                done = time.monotonic()
            finally:
                for process in processes:
                    with contextlib.suppress(ProcessLookupError):
                        await stop_process(process)
        finally:
            await store.close()
        posts = [r for r in emulator.find_requests("POST", MESSAGE_POSTS) if r.status == 200]
        embeds = sum(len(m["embeds"]) for c in channels for m in emulator.messages(c))
        first, last = posts[0].time, posts[-1].time
        return {
            "papers": len(papers),
            "channels": len(channels),
            "expected": expected,
            "embeds": embeds,
            "messages": len(posts),
            "papers_per_second": embeds / (last - first),
            "rate": emulator.requests_per_second(
                first, last, method="POST", path_pattern=MESSAGE_POSTS, statuses=[200]
            ),
            "peak": emulator.peak_requests(1.0),
            "rate_limited": emulator.rate_limited_count,
            "drain_seconds": last - first,
            "publish_to_delivered": done - published,
        }


def _cluster_row(scale: Scale, m: dict[str, float]) -> Row:
    complete = m["embeds"] == m["expected"]
    return Row(
        figure=f"(context) cluster: {CLUSTER_PROCESSES} processes, {int(m['channels'])} channels x "
        f"{int(m['papers'])} papers" + (" [quick]" if scale.quick else ""),
        measured=f"{m['papers_per_second']:.0f} papers/s, {m['rate']:.1f} req/s, {int(m['rate_limited'])} x 429",
        target="-",
        baseline="-",
        passed=None,
        notes=[
            f"{CLUSTER_PROCESSES} `python -m bot run` processes (shard_ids [0] and [1] of 2, one bench server each) "
            f"on one database; {int(m['messages'])} message posts carried {int(m['embeds'])} of "
            f"{int(m['expected'])} paper embeds ({'all' if complete else 'NOT all'}) in {secs(m['drain_seconds'])} "
            f"(first to last post); every paper in every channel {secs(m['publish_to_delivered'])} after publishing",
            f"the processes share one request schedule at {CLUSTER_REQUESTS_PER_SECOND:g} requests/s "
            f"(bot/store/postgres/pacing.py); busiest second {int(m['peak'])} requests of Discord's 50",
        ],
        values=dict(m),
    )
