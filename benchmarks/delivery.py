"""Figure 4: draining a big outbox through the real bot against the emulator's enforced rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.report import Row, secs
from benchmarks.scale import Scale
from benchmarks.workload import PaperGenerator, hf_item
from benchmarks.world import successful_polls, today, wait_for
from bot.app import PaperBot, point_client_at
from bot.config import settings_from_dict
from bot.devtools.emulator import DiscordEmulator
from bot.devtools.world import LoopbackWorld
from bot.matching import parse_query
from bot.models import Scope
from bot.store import Store

# Every generated abstract contains some of these words, so each channel's subscription matches every paper.
MATCH_EVERYTHING = "the OR of OR to OR in OR we"
MESSAGE_POSTS = r"/channels/\d+/messages"
DELIVERY_SEED = 400


async def _run_drain(
    world: LoopbackWorld,
    scale: Scale,
    db_path: Path,
    delivery_interval: float | None,
    url: str = "",
) -> dict[str, float]:
    emulator, hf = world.emulator, world.hf
    names = [f"papers-{i}" for i in range(scale.channels)]
    server = world.add_server("Delivery bench", names, moderators=(), members=())
    guild_id, channels = server.guild_id, server.channel_ids
    store = await Store.open(url or str(db_path))
    query = parse_query(MATCH_EVERYTHING).text
    created = datetime.now(UTC) - timedelta(hours=1)
    for channel_id in channels:
        await store.add_subscription(
            scope=Scope.GUILD,
            user_id=emulator.owner_id,
            query=query,
            now=created,
            guild_id=guild_id,
            channel_id=channel_id,
        )
    await store.close()

    delivery = {} if delivery_interval is None else {"interval": delivery_interval}
    overlay = {"sources": {"huggingface": {"poll_interval": 1}}, "delivery": delivery}
    raw = world.settings(db_path, guild_id, overlay, {"storage": {"url": url}} if url else {})
    settings = settings_from_dict(raw)
    point_client_at(settings)
    emulator.enforce_rate_limits(global_per_second=50, channel_messages=(5, 5.0))
    bot = PaperBot(settings)
    task = asyncio.create_task(bot.start(DiscordEmulator.BOT_TOKEN))
    try:
        await emulator.wait_for_ready(timeout=30)
        await wait_for(lambda: hasattr(bot, "store") and bot.scheduler.running, 30, "the bot's setup")
        await wait_for(lambda: successful_polls(bot.store), 30, "the first (cataloguing) poll")

        papers = PaperGenerator(DELIVERY_SEED, id_block=40).papers(scale.delivery_papers)
        hf.publish(today(), [hf_item(p) for p in papers])
        published = time.monotonic()
        expected = len(papers) * len(channels)
        # Production polls every 15 minutes: once this poll has queued the papers, no other poll runs
        # during the drain.
        await wait_for(lambda: _queued(bot, expected), 60, "the poll that queues the papers")
        bot.scheduler.pause_job("poll:huggingface")
        drain_timeout = 120 + expected / 5
        await wait_for(lambda: _drained(bot), drain_timeout, "the outbox to drain", interval=0.2)
        drained = time.monotonic()
    finally:
        with contextlib.suppress(Exception):
            await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)

    posts = [r for r in emulator.find_requests("POST", MESSAGE_POSTS) if r.status == 200]
    per_channel = [len(emulator.messages(c)) for c in channels]
    sizes = [len(m["embeds"]) for c in channels for m in emulator.messages(c)]
    embeds = sum(sizes)
    first, last = posts[0].time, posts[-1].time
    return {
        "papers": len(papers),
        "channels": len(channels),
        "expected": expected,
        "embeds": embeds,
        "messages": len(posts),
        "rate": emulator.requests_per_second(first, last, method="POST", path_pattern=MESSAGE_POSTS, statuses=[200]),
        "peak": emulator.peak_requests(1.0, statuses=[200]),
        "rate_limited": emulator.rate_limited_count,
        "max_per_channel": max(per_channel),
        "min_per_channel": min(per_channel),
        "drain_seconds": last - first,
        "publish_to_drained": drained - published,
        "first_post_after_publish": first - published,
        "full_messages": sum(1 for size in sizes if size == 10),
        "largest_message": max(sizes),
    }


async def _queued(bot: PaperBot, expected: int) -> bool:
    """Whether the outbox holds every expected delivery (either driver)."""
    row = await bot.store._db.fetchone("SELECT COUNT(*) AS n FROM deliveries")
    return row is not None and int(row["n"]) >= expected


async def _drained(bot: PaperBot) -> bool:
    return await bot.store.outbox_depth() == 0


async def measure_drain(
    scale: Scale, workdir: Path, delivery_interval: float | None, url: str = ""
) -> dict[str, float]:
    """Figure 4's drain on a SQLite file in ``workdir``, or on the PostgreSQL database ``url``."""
    async with LoopbackWorld() as world:
        return await _run_drain(world, scale, workdir / f"delivery-{delivery_interval}.db", delivery_interval, url)


def delivery_rows(scale: Scale, workdir: Path) -> list[Row]:
    rows = [delivery_row(scale, asyncio.run(measure_drain(scale, workdir, None)), "default delivery.interval 5 s")]
    if not scale.quick:
        rows.append(
            delivery_row(
                scale, asyncio.run(measure_drain(scale, workdir, 0.2)), "delivery.interval 0.2 s", context=True
            )
        )
    return rows


def delivery_row(scale: Scale, m: dict[str, float], config: str, context: bool = False) -> Row:
    """Figure 4's row for one drain's measurements."""
    n = int(m["papers"])
    allowed = math.ceil(n / 10)
    complete = m["embeds"] == m["expected"]
    passed = m["rate"] >= 45 and m["rate_limited"] == 0 and m["max_per_channel"] <= allowed and complete
    label = f"4. delivery: {int(m['channels'])} channels x {n} papers, {config}"
    if context:
        label = "(context) " + label[3:]
    return Row(
        figure=label + (" [quick]" if scale.quick else ""),
        measured=f"{m['rate']:.1f} req/s, {int(m['rate_limited'])} x 429, <= {int(m['max_per_channel'])} msg/ch",
        target=f">= 45 req/s, 0 x 429, <= {allowed} msg/ch",
        baseline=f"{m['rate'] / 45:.2f}x target rate",
        passed=None if context else passed,
        notes=[
            f"{int(m['messages'])} message posts carried {int(m['embeds'])} of {int(m['expected'])} paper embeds "
            f"({'all' if complete else 'NOT all'}); sustained rate = posts / (last - first post) over "
            f"{secs(m['drain_seconds'])}; peak {int(m['peak'])} requests in any 1 s window",
            f"messages per channel: {int(m['min_per_channel'])}-{int(m['max_per_channel'])} for {n} papers "
            f"(ceil(n/10) = {allowed}); {int(m['full_messages'])} of {int(m['messages'])} messages carry 10 "
            f"embeds (largest: {int(m['largest_message'])})",
            f"first post {secs(m['first_post_after_publish'])} after publishing, outbox empty "
            f"{secs(m['publish_to_drained'])} after publishing",
        ],
        values=dict(m),
    )
