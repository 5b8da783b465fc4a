"""Diagnostics behind the root causes in RESULTS.md: ``python benchmarks/diagnose.py [--quick]``.

Not part of the figures. These reach into bot internals (``bot.matching.index._distribute``,
``bot.matching.query._Parser``) to split costs apart, so they may need updating when those change.

1. Per-paper candidates vs the bitset path, by batch size (where should ``batch_threshold`` be?).
2. The arXiv-day planning path with distributing matches into per-paper sets stubbed out (evaluation only).
3. Parsing subscriptions at start-up: lexing + parsing vs compiling, with and without the garbage collector.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bot.matching.index as index_module  # noqa: E402
from benchmarks.scale import FULL, QUICK  # noqa: E402
from benchmarks.workload import PaperGenerator, generate_queries  # noqa: E402
from bot.matching import Node, document_for, parse_query  # noqa: E402
from bot.matching.index import SubscriptionIndex  # noqa: E402
from bot.matching.matcher import compile_node  # noqa: E402
from bot.matching.query import _Parser  # noqa: E402


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    scale = QUICK if parser.parse_args().quick else FULL

    queries = generate_queries(scale.subscriptions)
    texts = [q.text for q in queries]

    print(f"3. parsing {len(texts):,} subscriptions (as Engine.load does)")
    gc.collect()
    with_gc = timed(lambda: [parse_query(t) for t in texts])
    roots: list[Node] = []
    gc.disable()
    try:
        lex_parse = timed(lambda: roots.extend(_Parser(t).parse() for t in texts))
        compile_ = timed(lambda: [compile_node(r) for r in roots])
        without_gc = timed(lambda: [parse_query(t) for t in texts])
    finally:
        gc.enable()
    roots.clear()
    print(f"   parse_query: {with_gc:.2f} s with the garbage collector, {without_gc:.2f} s without; "
          f"of which lexing + parsing {lex_parse:.2f} s, compile_node {compile_:.2f} s (GC off)")

    index = SubscriptionIndex()
    for sub_id, query in enumerate(queries, start=1):
        index.add(sub_id, query)
    for paper in PaperGenerator(99, id_block=99).papers(200):
        document_for(paper)
    gc.collect()
    gc.freeze()  # keep collector pauses out of these comparisons

    print(f"1. planning path by batch size, {len(queries):,} subscriptions (median of 8, documents prepared)")
    generator = PaperGenerator(200, id_block=10)
    default = index.batch_threshold
    for size in (1, 2, 4, 8, 16):
        medians = []
        for threshold in (default, 1):
            index.batch_threshold = threshold
            runs = []
            for _ in range(8):
                docs = [document_for(p) for p in generator.papers(size)]
                start = time.perf_counter()
                index.match_many(docs)
                runs.append(time.perf_counter() - start)
            medians.append(statistics.median(runs))
        print(f"   {size:2d} papers: one by one {medians[0] * 1000:7.1f} ms, bitset {medians[1] * 1000:7.1f} ms")
    index.batch_threshold = default

    docs = [document_for(p) for p in PaperGenerator(100, id_block=1).papers(scale.day_papers)]
    full = timed(lambda: index.match_many(docs))
    distribute = index_module._distribute
    index_module._distribute = lambda sub_id, mask, adders: None
    try:
        evaluation = timed(lambda: index.match_many(docs))
    finally:
        index_module._distribute = distribute
    print(f"2. arXiv day ({len(docs):,} papers): match_many {full:.2f} s; with _distribute stubbed out "
          f"{evaluation:.2f} s, so {full - evaluation:.2f} s ({(full - evaluation) / full:.0%}) goes to "
          "handing each (subscription, paper) match to its paper's result set")
    gc.unfreeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
