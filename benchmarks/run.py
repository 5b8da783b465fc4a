"""paperbot's performance benchmarks: ``python benchmarks/run.py [--quick] [--json PATH] [--postgres]``
(``--relevance``: only the relevance benchmark, benchmarks/relevance.py; ``--scale 1m``: only the
million-subscription rows: the index, benchmarks/index_scale.py, and delivery, benchmarks/delivery_scale.py;
``--postgres``: also the store-touching figures on PostgreSQL and a two-process cluster's delivery rate,
benchmarks/postgres_bench.py).

Prints one table (figure, measured, target, ratio to baseline, PASS/MISS) and the details behind each
row. Always exits 0: this reports, it does not gate. See benchmarks/RESULTS.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python benchmarks/run.py` puts only benchmarks/ on the path

from benchmarks.delivery import delivery_rows  # noqa: E402
from benchmarks.delivery_scale import delivery_scale_rows  # noqa: E402
from benchmarks.index_scale import index_scale_rows  # noqa: E402
from benchmarks.matching import run_matching  # noqa: E402
from benchmarks.postgres_bench import postgres_rows  # noqa: E402
from benchmarks.report import Row, format_notes, format_table  # noqa: E402
from benchmarks.scale import FULL, QUICK, Scale  # noqa: E402
from benchmarks.soak import add_arguments as add_soak_arguments  # noqa: E402
from benchmarks.soak import scale_from as soak_scale_from  # noqa: E402
from benchmarks.soak import soak_rows  # noqa: E402
from benchmarks.startup import database_row, startup_rows  # noqa: E402
from benchmarks.world import DatabaseInfo, build_database  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "bot"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    state = f"{commit}{' + uncommitted changes in bot/' if dirty else ''}"
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}; code: {state}"
    )


def copied_database(source: Path, workdir: Path) -> DatabaseInfo:
    """A copy of a database a previous run kept (``--keep``: its ``big.db``), for figures 5-7 alone."""
    path = workdir / "big.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{path}{suffix}")
    with sqlite3.connect(path) as db:
        papers = db.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
        subscriptions = db.execute("SELECT COUNT(*) FROM subscriptions").fetchone()[0]
    return DatabaseInfo(path, papers, subscriptions, 0.0, 0.0)


def run(scale: Scale, workdir: Path, profile: bool, postgres: bool = False) -> tuple[list[Row], list[str]]:
    started = time.perf_counter()
    rows: list[Row] = []
    profiled: list[str] = []

    def stage(name: str, work: Callable[[], list[Row]]) -> None:
        """Run one stage; a failure becomes an ERROR row instead of hiding the other figures."""
        print(f"[{time.perf_counter() - started:6.1f} s] {name}", flush=True)
        try:
            rows.extend(work())
        except Exception as exc:
            logging.getLogger("benchmarks").exception("stage failed: %s", name)
            rows.append(
                Row(
                    name,
                    "ERROR",
                    "-",
                    "-",
                    False,
                    notes=[f"{type(exc).__name__}: {exc}", *traceback.format_exc(limit=-3).splitlines()],
                )
            )

    texts: list[str] = []

    def matching() -> list[Row]:
        found, queries, profiles = run_matching(scale, profile)
        texts.extend(queries)
        profiled.extend(profiles)
        gc.collect()  # the emulator shares this process: keep its garbage collections small
        return found

    def bot_process() -> list[Row]:
        db = asyncio.run(build_database(workdir / "big.db", texts, scale.stored_papers))
        return [database_row(scale, db), *startup_rows(scale, db, workdir)]

    stage(f"figures 1-3: matching ({scale.subscriptions:,} subscriptions)", matching)
    stage(
        f"figure 4: delivery ({scale.channels} channels x {scale.delivery_papers} papers)",
        lambda: delivery_rows(scale, workdir),
    )
    if texts:
        stage(
            f"figures 5-6: a database of {len(texts):,} subscriptions and {scale.stored_papers:,} papers, "
            "and the bot as its own process",
            bot_process,
        )
    if postgres:
        stage(
            "figures 4-6 on PostgreSQL, and a two-process cluster's delivery",
            lambda: postgres_rows(scale, workdir, texts),
        )
    print(f"[{time.perf_counter() - started:6.1f} s] done", flush=True)
    return rows, profiled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a scaled-down run (under a minute)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (databases, bot log)")
    parser.add_argument("--profile", action="store_true", help="also print cProfile tables of the planning path")
    parser.add_argument(
        "--relevance", action="store_true", help="only the relevance benchmark (benchmarks/relevance.py)"
    )
    parser.add_argument("--scale", choices=["1m"], help="1m: only the million-subscription rows (issue 14 §4)")
    parser.add_argument(
        "--postgres", action="store_true", help="also figures 4-6 on PostgreSQL and a 2-process cluster (needs initdb)"
    )
    parser.add_argument(
        "--database",
        metavar="PATH",
        type=Path,
        help="only figures 5-7 (the bot's own process), on a copy of this database (a kept run's big.db)",
    )
    parser.add_argument("--soak", action="store_true", help="run only the soak: a simulated year (benchmarks/soak.py)")
    add_soak_arguments(parser)
    args = parser.parse_args()
    if args.relevance:
        from benchmarks.relevance import main as relevance_main

        return relevance_main()
    scale = QUICK if args.quick else FULL

    workdir = Path(tempfile.mkdtemp(prefix="paperbot-bench-"))
    logging.basicConfig(
        filename=workdir / "benchmark.log",
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: maximum number of running instances"
    started = time.perf_counter()
    try:
        if args.soak:
            rows, profiled = soak_rows(soak_scale_from(args), workdir), []
        elif args.database:
            rows, profiled = startup_rows(scale, copied_database(args.database, workdir), workdir), []
        elif args.scale == "1m":
            rows, profiled = index_scale_rows(workdir) + delivery_scale_rows(workdir), []
        else:
            rows, profiled = run(scale, workdir, args.profile, args.postgres)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started

    print()
    name = f"--scale {args.scale}" if args.scale else scale.name
    print(f"paperbot benchmarks, {name} run ({elapsed:.0f} s) on {machine()}")
    if scale.quick:
        print(
            "QUICK RUN: scaled down (see [quick] rows); the targets are for the full sizes, so a quick PASS/MISS "
            "is only indicative. Run without --quick for the real figures."
        )
    print()
    print(format_table(rows))
    print()
    print(
        "ratio to baseline: brute force for 1, perq 0.2.1 for 3a/3b, else measured / target "
        "(below 1 is better for times and memory; above 1 is better for rates)."
    )
    print()
    print(format_notes(rows))
    for text in profiled:
        print()
        print(text)
    if args.keep:
        print(f"\nscratch directory kept: {workdir}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"scale": scale.name, "seconds": elapsed, "machine": machine(), "rows": [r.to_json() for r in rows]},
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
