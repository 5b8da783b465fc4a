"""What the bot benchmarks run on besides ``bot.devtools.world.LoopbackWorld``: big databases, waiting, and
settings written as TOML for the bot's own process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from benchmarks.workload import PaperGenerator
from bot.store import Store

PAPERS_PER_DAY = 2_500  # stored papers get first-seen dates one arXiv day apart
GUILD_SUBSCRIPTIONS = 50  # the default per-server cap: bulk subscriptions fill servers to it
STORED_PAPER_SEED = 500


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate`` (sync or async) until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def successful_polls(store: Store, source: str = "huggingface") -> int:
    state = await store.source_state(source)
    return state.successes if state is not None else 0


def toml(raw: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for a settings dict (tables, strings, numbers, booleans)."""
    scalars = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{key} = {json.dumps(value)}" for key, value in scalars.items()]
    for key, value in tables.items():
        lines.append(toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines)


# -- databases ----------------------------------------------------------------------------------------


@dataclass
class DatabaseInfo:
    path: Path
    papers: int
    subscriptions: int
    papers_seconds: float
    subscriptions_seconds: float
    url: str = ""  # a PostgreSQL database instead of the SQLite file at ``path``

    @property
    def location(self) -> str:
        """Where the database is, as ``Store.open`` takes it."""
        return self.url or str(self.path)

    @property
    def storage(self) -> dict[str, str]:
        """The ``[storage]`` keys that point the bot at it."""
        return {"url": self.url} if self.url else {"path": str(self.path)}


async def build_database(path: Path, queries: Sequence[str], papers: int, url: str = "") -> DatabaseInfo:
    """A database with ``papers`` stored papers and one subscription per query (on PostgreSQL with ``url``).

    Papers go through ``Store.ingest`` (the bot's own insert path, with its FTS triggers), one arXiv day
    of first-seen dates per 2,500 papers, ending now. Subscriptions are bulk-inserted with executemany,
    50 per server over 5 channels each (the default per-server cap), as if made over the past months.
    """
    loop = asyncio.get_running_loop()
    store = await Store.open(url or str(path))
    start = loop.time()
    generator = PaperGenerator(STORED_PAPER_SEED, id_block=50)
    now = datetime.now(UTC)
    days = -(-papers // PAPERS_PER_DAY)
    for day in range(days):
        batch = generator.papers(min(PAPERS_PER_DAY, papers - day * PAPERS_PER_DAY))
        await store.ingest(batch, lambda new, recheck: (), now - timedelta(days=days - day, minutes=5))
    await store.close()
    papers_seconds = loop.time() - start

    start = loop.time()
    created = (now - timedelta(days=days + 1)).isoformat(timespec="microseconds")
    rows = []
    for number, query in enumerate(queries):
        guild = 10**15 + number // GUILD_SUBSCRIPTIONS
        channel = 2 * 10**15 + number // (GUILD_SUBSCRIPTIONS // 5)
        rows.append(("channel", guild, channel, 3 * 10**15 + number % 997, query, "instant", 0, created))
    if url:
        await _insert_subscriptions(url, rows)
        return DatabaseInfo(path, papers, len(rows), papers_seconds, loop.time() - start, url)
    async with aiosqlite.connect(str(path)) as db:
        await db.execute("BEGIN IMMEDIATE")
        await db.executemany(
            "INSERT INTO subscriptions (kind, guild_id, channel_id, user_id, query, schedule, min_upvotes, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        await db.execute("COMMIT")
        await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return DatabaseInfo(path, papers, len(rows), papers_seconds, loop.time() - start)


async def _insert_subscriptions(url: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """The bulk insert of :func:`build_database` on PostgreSQL: one transaction through the store's driver."""
    columns = ("kind", "guild_id", "channel_id", "user_id", "query", "schedule", "min_upvotes", "created_at")
    store = await Store.open(url)
    try:
        async with store._db.transaction() as db:
            await db.executemany(
                f"INSERT INTO subscriptions ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
                [dict(zip(columns, row, strict=True)) for row in rows],
            )
    finally:
        await store.close()
