"""What the shard filter costs the sender's outbox query: ``python benchmarks/shard_filter.py``.

100,000 pending deliveries (400 servers, 100 DM alerts, 200 papers); times ``Store.due_deliveries`` for one
sender page (5,000 rows, 50 per target) with no filter (a process running every shard) and as a process running
part of 4 shards. Standalone (not in run.py): a one-off measurement behind a design choice (filter in SQL, not
in Python on the selected rows, which would also let other shards' rows fill every page).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.models import Paper, Scope  # noqa: E402
from bot.sharding import Shards  # noqa: E402
from bot.store import Store  # noqa: E402

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
CASES = [
    ("all shards (no filter)", None),
    ("shard 1 of 4", Shards(4, frozenset({1}))),
    ("shards 0, 2 of 4 (+ DMs)", Shards(4, frozenset({0, 2}))),
]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(str(Path(tmp) / "bench.db"))
        try:
            subs = [
                await store.add_subscription(
                    scope=Scope.GUILD,
                    user_id=1,
                    query="attention",
                    now=T0,
                    guild_id=((1000 + g) << 22) | 5,
                    channel_id=10_000 + g,
                )
                for g in range(400)
            ]
            subs += [
                await store.add_subscription(scope=Scope.USER, user_id=50_000 + u, query="attention", now=T0)
                for u in range(100)
            ]
            papers = [
                Paper(id=f"2411.{n:05d}", title=f"Paper {n}", abstract="", authors=(), url=f"https://x/{n}")
                for n in range(200)
            ]
            await store.ingest(papers, lambda new, _: [(s.id, p.id) for s in subs if s for p in new], T0)
            print(f"pending deliveries: {await store.outbox_depth()}")
            for label, shards in CASES:
                times = []
                for _ in range(5):
                    start = time.perf_counter()
                    rows = await store.due_deliveries(T0, 5000, 50, shards=shards)
                    times.append(time.perf_counter() - start)
                print(f"{label:26s} {len(rows):5d} rows  median {statistics.median(times) * 1000:6.0f} ms")
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
