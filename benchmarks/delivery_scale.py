"""Issue 14 §4, the delivery half: a 2,500-paper day planned and queued at 100k and 1M subscriptions, with the
event loop's lag throughout (``benchmarks/run.py --scale 1m``; alone: ``python -m benchmarks.delivery_scale``).

Per scale, a SQLite database holds the workload's subscriptions (benchmarks/workload.py, 10 per channel, as
benchmarks/world.py builds them). In this process, with a lag probe (benchmarks/lag.py) ticking on the loop:

- the engine loads the index (what a restarted leader does before it can poll): seconds and lag;
- the plan alone: the day's 2,500 new papers matched in worker threads and streamed, every chunk consumed but
  nothing written — seconds, pairs, and how many distinct (target, paper) there are among them (what a
  "row per (target, paper)" outbox would hold);
- plan and queue: what ``Engine.poll`` runs for the listing — ``Store.ingest`` with the planner's stream, in one
  transaction, the day's plain matches written as compact rows (bot/store/matches.py) and committed — stopped (and
  so rolled back) after :data:`QUEUE_LIMIT` seconds when it runs longer: then the figure is the rate it reached and
  what the whole day would take at that rate;
- the background expansion of those compact rows into outbox rows (``Store.expand_matches``, a chunk per
  transaction, as bot/expansion.py runs it) for :data:`EXPAND_SECONDS`: pairs per second, against the ~500 papers a
  second Discord lets a bot send.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import numpy as np

from benchmarks.lag import Lag, LagProbe, lag_in
from benchmarks.report import Row, format_notes, format_table, ms, secs
from benchmarks.scale import count
from benchmarks.workload import PaperGenerator, QueryGenerator
from benchmarks.world import build_database
from bot.engine import Engine
from bot.models import Paper
from bot.store import Store
from bot.store.matches import CompactMatches
from bot.store.outbox import QUEUE_CHUNK, Matched

DAY_PAPERS = 2_500
DAY_SEED = 950
QUERY_SEED = 1
QUERY_BLOCK = 10_000  # queries generated (and parsed, to keep only valid ones) at a time
QUEUE_LIMIT = 120.0  # seconds a plan-and-queue run may take before it is stopped and extrapolated
EXPAND_SECONDS = 30.0  # how long the expansion is measured
SEND_RATE = 500  # papers a second Discord's global 50 requests/s lets a bot send (10 per message)
PLAN_TARGET = 10.0
LAG_MAX = 0.100
LAG_P99 = 0.020
SCALES = (100_000, 1_000_000)


class _Stopped(Exception):
    """The plan-and-queue run passed :data:`QUEUE_LIMIT`: its transaction is rolled back."""


@dataclass
class DayRun:
    subscriptions: int
    load_seconds: float = 0.0
    load_lag: Lag = field(default_factory=lambda: Lag(0.0, 0.0, 0))
    plan_seconds: float = 0.0
    plan_lag: Lag = field(default_factory=lambda: Lag(0.0, 0.0, 0))
    pairs: int = 0
    target_pairs: int = 0  # distinct (channel, paper) among the pairs
    queue_seconds: float = 0.0
    queue_lag: Lag = field(default_factory=lambda: Lag(0.0, 0.0, 0))
    queued: int = 0  # pairs handed to the store before the run finished or was stopped
    finished: bool = False
    compact_bytes: int = 0  # the day's compact rows' packed ids
    expand_seconds: float = 0.0
    expand_lag: Lag = field(default_factory=lambda: Lag(0.0, 0.0, 0))
    expanded: int = 0  # pairs expanded into outbox rows in expand_seconds


def query_texts(total: int) -> list[str]:
    """``total`` valid workload queries (the same ones for any machine), generated a block at a time."""
    generator = QueryGenerator(QUERY_SEED)
    texts: list[str] = []
    while len(texts) < total:
        texts += [q.text for q in generator.queries(min(QUERY_BLOCK, total - len(texts)))]
    return texts


def _pairs(chunk: Matched | CompactMatches) -> int:
    return chunk.pairs if isinstance(chunk, CompactMatches) else sum(len(ids) for ids in chunk.values())


def _targets(chunk: Matched | CompactMatches) -> int:
    """Distinct (target, paper) in a chunk: build_database puts subscription id n in channel (n - 1) // 10, and each
    paper's ids are sorted, so its channels are too."""
    by_paper = chunk.by_paper if isinstance(chunk, CompactMatches) else chunk
    channels = ((np.asarray(ids, dtype=np.int64) - 1) // 10 for ids in by_paper.values())
    return sum(int(np.count_nonzero(np.diff(c))) + 1 for c in channels if len(c))


async def _timed(probe: LagProbe, work: Any) -> tuple[float, Lag, Any]:
    start = time.monotonic()
    result = await work
    end = time.monotonic()
    return end - start, lag_in(probe.ticks, [(start, end)]), result


async def _day(subscriptions: int, workdir: Path) -> DayRun:
    run = DayRun(subscriptions)
    db = await build_database(workdir / f"day-{subscriptions}.db", query_texts(subscriptions), 0)
    store = await Store.open(str(db.path))
    probe = LagProbe()
    ticking = asyncio.create_task(probe.run())
    try:
        engine = Engine(store, max_new_per_poll=DAY_PAPERS)
        run.load_seconds, run.load_lag, _ = await _timed(probe, engine.load())
        day = PaperGenerator(DAY_SEED, id_block=95).papers(DAY_PAPERS)
        gc.collect()

        async def plan_only() -> None:
            async with engine.planner.reading():
                async for matched in engine.planner.listing(None)(day, ()):
                    run.pairs += _pairs(matched)
                    run.target_pairs += await asyncio.to_thread(_targets, matched)  # not on the loop being probed

        run.plan_seconds, run.plan_lag, _ = await _timed(probe, plan_only())
        gc.collect()

        deadline = time.monotonic() + QUEUE_LIMIT

        def capped(new: Sequence[Paper], recheck: Sequence[Paper]) -> AsyncIterator[Matched | CompactMatches]:
            async def stream() -> AsyncIterator[Matched | CompactMatches]:
                async for chunk in engine.planner.listing(None)(new, recheck):
                    if time.monotonic() > deadline:
                        raise _Stopped
                    yield chunk
                    run.queued += _pairs(chunk)

            return stream()

        async def plan_and_queue() -> None:
            async with engine.planner.reading():  # as Engine.poll does
                try:
                    await store.ingest(day, capped, datetime.now(UTC), max_new=DAY_PAPERS)
                    run.finished = True
                except _Stopped:
                    pass

        run.queue_seconds, run.queue_lag, _ = await _timed(probe, plan_and_queue())
        if run.finished:
            row = await store._db.fetchone("SELECT SUM(LENGTH(subscription_ids)) AS n FROM paper_matches")
            run.compact_bytes = int(row["n"] or 0) if row else 0
            gc.collect()

            async def expand() -> None:
                until = time.monotonic() + EXPAND_SECONDS
                while time.monotonic() < until and (chunk := await store.expand_matches(QUEUE_CHUNK)):
                    run.expanded += chunk

            run.expand_seconds, run.expand_lag, _ = await _timed(probe, expand())
    finally:
        ticking.cancel()
        await store.close()
        db.path.unlink(missing_ok=True)
    return run


def _lag_text(lag: Lag) -> str:
    return f"max {ms(lag.max)}, p99 {ms(lag.p99)} ({lag.ticks} ticks)"


def _lag_ok(lag: Lag) -> bool:
    return lag.ticks > 0 and lag.max <= LAG_MAX and lag.p99 <= LAG_P99


def day_rows(run: DayRun) -> list[Row]:
    """Plan-and-queue seconds (measured, or extrapolated from a stopped run) and the loop's lag meanwhile."""
    size = ("1M" if run.subscriptions == 1_000_000 else count(run.subscriptions)) + " subs"
    rate = run.queued / run.queue_seconds if run.queue_seconds else 0.0
    whole = run.queue_seconds if run.finished else (run.pairs / rate if rate else float("inf"))
    measured = secs(whole) if run.finished else f"~{secs(whole)} (projected)"
    lags = {"load": run.load_lag, "plan": run.plan_lag, "queue": run.queue_lag, "expand": run.expand_lag}
    measured_lags = [lag for lag in lags.values() if lag.ticks]
    worst = max(measured_lags, key=lambda lag: lag.max)
    p99 = max(lag.p99 for lag in measured_lags)
    expand_rate = run.expanded / run.expand_seconds if run.expand_seconds else 0.0
    return [
        Row(
            figure=f"8a. 2,500-paper day planned and queued, {size}",
            measured=measured,
            target=f"<= {PLAN_TARGET:.0f} s",
            baseline=f"{whole / PLAN_TARGET:.2f}x target",
            passed=run.finished and whole <= PLAN_TARGET,
            notes=[
                f"{run.pairs:,} (subscription, paper) pairs; only {run.target_pairs:,} distinct (target, paper) "
                f"({run.target_pairs / max(run.pairs, 1):.0%}: a row per (target, paper) would save little here)",
                f"plan alone (match in worker threads, stream every chunk, write nothing): {secs(run.plan_seconds)}",
                (
                    f"plan + queue (Store.ingest with the streamed plan, one transaction, the plain matches kept "
                    f"compact: {run.compact_bytes / 1e6:,.1f} MB of packed ids, committed): {secs(run.queue_seconds)}"
                    if run.finished
                    else f"plan + queue stopped after {secs(run.queue_seconds)} (rolled back) having handed "
                    f"{run.queued:,} pairs to the outbox: {rate:,.0f} pairs/s, so the day's {run.pairs:,} would "
                    f"take ~{secs(whole)}"
                ),
                f"index loading before it (Engine.load): {secs(run.load_seconds)}",
            ],
            values={
                "seconds": whole,
                "finished": run.finished,
                "plan_seconds": run.plan_seconds,
                "queue_seconds": run.queue_seconds,
                "pairs": run.pairs,
                "target_pairs": run.target_pairs,
                "queued": run.queued,
                "load_seconds": run.load_seconds,
                "compact_bytes": run.compact_bytes,
            },
        ),
        Row(
            figure=f"8b. event-loop lag: index loading, planning and queueing a 2,500-paper day, {size}",
            measured=f"max {ms(worst.max)}, p99 {ms(p99)}",
            target=f"max <= {LAG_MAX * 1000:.0f} ms, p99 <= {LAG_P99 * 1000:.0f} ms",
            baseline=f"{worst.max / LAG_MAX:.2f}x max target",
            passed=all(_lag_ok(lag) for lag in measured_lags),
            notes=[
                f"index loading {_lag_text(run.load_lag)}; plan alone {_lag_text(run.plan_lag)}; plan + queue "
                f"{_lag_text(run.queue_lag)}; expansion {_lag_text(run.expand_lag)} — a 10 ms tick's lateness, "
                "in this process"
            ],
            values={name: {"max": lag.max, "p99": lag.p99, "ticks": lag.ticks} for name, lag in lags.items()},
        ),
        Row(
            figure=f"8c. compact matches expanded into outbox rows, {size}",
            measured=f"{expand_rate:,.0f} pairs/s" if run.expand_seconds else "not measured (the queue was stopped)",
            target=f">= {SEND_RATE} pairs/s (Discord's send rate)",
            baseline=f"{expand_rate / SEND_RATE:.1f}x the send rate",
            passed=expand_rate >= SEND_RATE,
            notes=[
                f"Store.expand_matches, {QUEUE_CHUNK:,} pairs a transaction, oldest paper first, for "
                f"{secs(run.expand_seconds)}: {run.expanded:,} pairs; the bot expands only while fewer than "
                "bot.expansion.PENDING_BOUND rows wait to be sent"
            ],
            values={"pairs_per_second": expand_rate, "expanded": run.expanded, "seconds": run.expand_seconds},
        ),
    ]


def delivery_scale_rows(workdir: Path, scales: Sequence[int] = SCALES) -> list[Row]:
    """The 8a/8b/8c rows for each number of subscriptions in ``scales``."""
    rows: list[Row] = []
    for subscriptions in scales:
        rows += day_rows(asyncio.run(_day(subscriptions, workdir)))
        gc.collect()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, nargs="*", default=list(SCALES))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    workdir = Path(mkdtemp(prefix="paperbot-day-"))
    for subscriptions in args.subscriptions:  # each scale's rows as soon as they are measured
        rows = delivery_scale_rows(workdir, [subscriptions])
        print(format_table(rows))
        print()
        print(format_notes(rows), flush=True)


if __name__ == "__main__":
    main()
