"""A year of running in compressed time: ``python benchmarks/soak.py [--days 365] [--keep-days 30] ...``
(or ``python benchmarks/run.py --soak``).

Drives the engine and the store directly, as the bot's jobs do, with a simulated clock: every day a number of polls
bring that day's new papers through ``Store.ingest`` with ``Engine.plan`` (the poll path), the queued deliveries are
read back as the sender reads them (``Store.due_deliveries``) and marked sent, and the daily maintenance job prunes
past ``keep_days``. Every day some papers are listed again: some still stored (yesterday's, with more upvotes), some
already pruned (older than ``keep_days``). No Discord: this measures what grows with time, not delivery.

Per 30-day month it records: the database file size after maintenance, the median ``Engine.plan`` time per poll
(matching), the p95 of ``Store.ingest`` per poll (matching + store), the p95 of ``Engine.search`` (what
``/papers search`` runs) over sampled queries on the month's last day, and the process's resident memory. Every
delivered (subscription, paper) pair is appended to a file and checked for repeats at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report import Row, median, percentile  # noqa: E402
from benchmarks.workload import PaperGenerator, QueryGenerator, generate_queries  # noqa: E402
from bot.engine import UPVOTE_RECHECK, Engine  # noqa: E402
from bot.matching import Query, parse_query  # noqa: E402
from bot.models import Paper  # noqa: E402
from bot.ops.maintenance import run_maintenance  # noqa: E402
from bot.store import Store  # noqa: E402

MONTH_DAYS = 30
START = datetime(2026, 1, 5, tzinfo=UTC)
TARGET_RATIO = 1.2


@dataclass(frozen=True)
class SoakScale:
    days: int = 365
    papers_per_day: int = 2_500
    polls_per_day: int = 10
    subscriptions: int = 10_000
    keep_days: int = 30
    relisted_per_day: int = 100  # half still stored (yesterday's), half already pruned
    searches: int = 40  # sampled on each month's last day


@dataclass
class Month:
    days: int = 0
    maintenance_seconds: float = 0.0
    plan_seconds: list[float] = field(default_factory=list)
    ingest_seconds: list[float] = field(default_factory=list)
    search_seconds: list[float] = field(default_factory=list)
    db_bytes: int = 0
    rss_bytes: int = 0
    papers_stored: int = 0
    delivered: int = 0


def selective_query(g: QueryGenerator) -> str:
    """A query as selective as real subscriptions (a few papers a day of 2,500): phrases and title words.

    The benchmark workload's vocabulary is the 71 fixture abstracts, so one- and two-word queries match a few
    percent of every day; these match ~0.1-0.5%."""
    r = g.rng.random()
    if r < 0.35:
        return f"{g.phrase()} {g.phrase()}"
    if r < 0.6:
        return f"{g.phrase()} ti:{g.word()}"
    return f"ti:{g.word()} ti:{g.word()} {g.word()} {g.word()}"


def _queries(count: int, seed: int) -> list[str]:
    g = QueryGenerator(seed)
    out: list[str] = []
    while len(out) < count:
        text = selective_query(g)
        try:
            parse_query(text)
        except ValueError:
            continue
        out.append(text)
    return out


async def _subscribe(path: Path, queries: Sequence[str], created: datetime) -> None:
    """Bulk-insert the subscriptions (one transaction), 50 per server over 5 channels, 5% with min_upvotes."""
    rows = [
        ("channel", 10**15 + n // 50, 2 * 10**15 + n // 10, 3 * 10**15 + n, q, "instant", 10 if n % 20 == 0 else 0)
        for n, q in enumerate(queries)
    ]
    async with aiosqlite.connect(str(path)) as db:
        await db.execute("BEGIN IMMEDIATE")
        await db.executemany(
            "INSERT INTO subscriptions (kind, guild_id, channel_id, user_id, query, schedule, min_upvotes, "
            f"created_at) VALUES (?, ?, ?, ?, ?, ?, ?, '{created.isoformat(timespec='microseconds')}')",
            rows,
        )
        await db.execute("COMMIT")


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _pair_key(sub_id: int, paper_id: str) -> int:
    head, tail = paper_id.split(".")
    return sub_id * 10**8 + int(head) * 100_000 + int(tail)


class Soak:
    """One simulated year (or ``days``)."""

    def __init__(self, scale: SoakScale, workdir: Path) -> None:
        self.scale = scale
        self.workdir = workdir
        self.now = START
        self.generator = PaperGenerator(seed=20261207)
        self.rng = random.Random(42)
        self.search_queries: list[Query] = generate_queries(200, seed=99)  # what people type into /papers search
        self.ids_by_day: list[list[str]] = []
        self.months: list[Month] = []
        self.pairs = (workdir / "delivered-pairs.bin").open("wb")
        self.relisted_after_pruning = 0
        self.queued_for_pruned = 0

    async def run(self) -> list[Month]:
        path = self.workdir / "soak.db"
        store = await Store.open(str(path))
        await _subscribe(path, _queries(self.scale.subscriptions, seed=5), START - timedelta(days=1))
        engine = Engine(store, clock=lambda: self.now)
        await engine.load()
        try:
            for day in range(self.scale.days):
                if day % MONTH_DAYS == 0:
                    self.months.append(Month())
                await self._day(store, engine, day)
                if day % MONTH_DAYS == MONTH_DAYS - 1 or day == self.scale.days - 1:
                    await self._month_end(store, engine)
                    month = self.months[-1]
                    print(
                        f"  day {day + 1}: db {month.db_bytes / 1e6:.0f} MB, {month.papers_stored:,} papers, "
                        f"plan p50 {median(month.plan_seconds) * 1000:.1f} ms, "
                        f"search p95 {percentile(month.search_seconds, 95) * 1000:.1f} ms, "
                        f"rss {month.rss_bytes / 1e6:.0f} MB, {month.delivered:,} delivered, "
                        f"maintenance up to {month.maintenance_seconds:.1f} s",
                        flush=True,
                    )
        finally:
            await store.close()
            self.pairs.close()
        return self.months

    def _relisted(self, day: int) -> tuple[list[Paper], list[Paper]]:
        """(yesterday's papers listed again with more upvotes, papers pruned days ago listed again)."""
        half = self.scale.relisted_per_day // 2
        stored: list[Paper] = []
        if day >= 1:  # the upvote re-check path
            ids = self.rng.sample(self.ids_by_day[day - 1], min(half, len(self.ids_by_day[day - 1])))
            stored = [replace(self.generator.paper(), id=paper_id, upvotes=40) for paper_id in ids]
        pruned: list[Paper] = []
        pruned_day = day - self.scale.keep_days - 3
        if self.scale.keep_days and pruned_day >= 0:  # a second source, a new version: different metadata
            ids = self.rng.sample(self.ids_by_day[pruned_day], min(half, len(self.ids_by_day[pruned_day])))
            pruned = [replace(self.generator.paper(), id=paper_id, upvotes=99) for paper_id in ids]
            self.relisted_after_pruning += len(pruned)
        return stored, pruned

    async def _day(self, store: Store, engine: Engine, day: int) -> None:
        month = self.months[-1]
        day_start = START + timedelta(days=day)
        fresh = self.generator.papers(self.scale.papers_per_day)
        self.ids_by_day.append([p.id for p in fresh])
        stored, pruned = self._relisted(day)
        if (done := day - self.scale.keep_days - 3) >= 0:
            self.ids_by_day[done] = []  # never drawn from again: keep the harness's own memory flat
        relisted = stored + pruned
        pruned_ids = {p.id for p in pruned}
        per_poll = -(-len(fresh) // self.scale.polls_per_day)
        for poll in range(self.scale.polls_per_day):
            self.now = day_start + timedelta(hours=poll * 24 / self.scale.polls_per_day)
            batch = fresh[poll * per_poll : (poll + 1) * per_poll]
            if poll == self.scale.polls_per_day // 2:
                batch = batch + relisted

            def plan(new: Sequence[Paper], recheck: Sequence[Paper]) -> list[tuple[int, str]]:
                started = time.perf_counter()
                keys = engine.plan(new, recheck)
                month.plan_seconds.append(time.perf_counter() - started)
                return keys

            started = time.perf_counter()
            await store.ingest(batch, plan, self.now, recheck_since=self.now - UPVOTE_RECHECK)
            month.ingest_seconds.append(time.perf_counter() - started)
            await self._send_all(store, pruned_ids)
        self.now = day_start + timedelta(hours=23, minutes=30)
        started = time.perf_counter()
        await run_maintenance(store, self.now, self.scale.keep_days)
        month.maintenance_seconds = max(month.maintenance_seconds, time.perf_counter() - started)
        month.days += 1

    async def _send_all(self, store: Store, pruned_ids: set[str]) -> None:
        """What the sender does with the queue: read the due rows, 'post' them, mark them sent."""
        while due := await store.due_deliveries(self.now, limit=20_000, per_target=20_000):
            keys = [(row.subscription_id, row.paper.id) for row in due]
            self.queued_for_pruned += sum(1 for _, paper_id in keys if paper_id in pruned_ids)
            await store.mark_sent(keys, 1, self.now)
            np.array([_pair_key(s, p) for s, p in keys], dtype=np.int64).tofile(self.pairs)
            self.months[-1].delivered += len(keys)

    async def _month_end(self, store: Store, engine: Engine) -> None:
        month = self.months[-1]
        for query in self.rng.sample(self.search_queries, self.scale.searches):
            started = time.perf_counter()
            await engine.search(query)
            month.search_seconds.append(time.perf_counter() - started)
        stats = await store.storage_stats()
        month.db_bytes, month.papers_stored = stats.file_bytes, stats.papers
        gc.collect()
        month.rss_bytes = rss_bytes()

    def repeated_pairs(self) -> int:
        """(subscription, paper) pairs delivered more than once over the whole run."""
        pairs = np.fromfile(self.workdir / "delivered-pairs.bin", dtype=np.int64)
        pairs.sort()
        return int(np.count_nonzero(pairs[1:] == pairs[:-1])) if len(pairs) else 0


def _ratio_row(name: str, first: float, last: float, unit: str, notes: Sequence[str] = ()) -> Row:
    ratio = last / first if first else float("inf")
    return Row(
        name,
        f"{first:.1f} → {last:.1f} {unit}",
        f"month 12 / month 1 ≤ {TARGET_RATIO}",
        f"{ratio:.2f}",
        ratio <= TARGET_RATIO,
        notes=list(notes),
        values={"first": first, "last": last, "ratio": ratio},
    )


def soak_rows(scale: SoakScale, workdir: Path) -> list[Row]:
    """Run the soak and turn it into result rows (first vs last full month)."""
    started = time.perf_counter()
    soak = Soak(scale, workdir)
    months = asyncio.run(soak.run())
    elapsed = time.perf_counter() - started
    full = [m for m in months if m.days == MONTH_DAYS] or months  # a run shorter than a month: what there is
    first, last = full[0], full[-1]
    label = f"month {len(full)}" if len(full) != 12 else "month 12"
    note = (
        f"{scale.days} days x {scale.papers_per_day:,} papers ({scale.polls_per_day} polls a day), "
        f"{scale.subscriptions:,} subscriptions, keep_papers_days {scale.keep_days}, "
        f"{scale.relisted_per_day} re-listed a day; ran {elapsed:.0f} s; compares month 1 with {label}"
    )
    repeats = soak.repeated_pairs()
    delivered = sum(m.delivered for m in months)
    return [
        _ratio_row("soak: database size", first.db_bytes / 1e6, last.db_bytes / 1e6, "MB", [note]),
        _ratio_row(
            "soak: matching per poll (p50)",
            median(first.plan_seconds) * 1000,
            median(last.plan_seconds) * 1000,
            "ms",
        ),
        _ratio_row(
            "soak: ingest per poll (p95)",
            percentile(first.ingest_seconds, 95) * 1000,
            percentile(last.ingest_seconds, 95) * 1000,
            "ms",
        ),
        _ratio_row(
            "soak: /papers search (p95)",
            percentile(first.search_seconds, 95) * 1000,
            percentile(last.search_seconds, 95) * 1000,
            "ms",
        ),
        _ratio_row("soak: resident memory", first.rss_bytes / 1e6, last.rss_bytes / 1e6, "MB"),
        Row(
            "soak: delivered twice",
            f"{repeats} of {delivered:,}",
            "0",
            "-",
            repeats == 0 and soak.queued_for_pruned == 0,
            notes=[
                f"{soak.relisted_after_pruning:,} papers re-listed after they were pruned; "
                f"{soak.queued_for_pruned} of them queued again",
                "per month (db MB, papers stored, plan p50 ms, search p95 ms, RSS MB, delivered, slowest "
                "maintenance s): "
                + "; ".join(
                    f"{m.db_bytes / 1e6:.0f}/{m.papers_stored:,}/{median(m.plan_seconds) * 1000:.1f}/"
                    f"{percentile(m.search_seconds, 95) * 1000:.1f}/{m.rss_bytes / 1e6:.0f}/{m.delivered:,}/"
                    f"{m.maintenance_seconds:.1f}"
                    for m in full
                ),
            ],
            values={"repeats": repeats, "delivered": delivered, "queued_for_pruned": soak.queued_for_pruned},
        ),
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The soak's size options (shared by this script and ``benchmarks/run.py --soak``)."""
    defaults = SoakScale()
    parser.add_argument("--days", type=int, default=defaults.days, help="simulated days (default: a year)")
    parser.add_argument("--papers-per-day", type=int, default=defaults.papers_per_day)
    parser.add_argument("--subscriptions", type=int, default=defaults.subscriptions)
    parser.add_argument("--keep-days", type=int, default=defaults.keep_days, help="storage.keep_papers_days")


def scale_from(args: argparse.Namespace) -> SoakScale:
    return SoakScale(
        days=args.days, papers_per_day=args.papers_per_day, subscriptions=args.subscriptions, keep_days=args.keep_days
    )


def main() -> int:
    from benchmarks.report import format_notes, format_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paperbot-soak-") as workdir:
        rows = soak_rows(scale_from(args), Path(workdir))
    print()
    print(format_table(rows))
    print()
    print(format_notes(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
