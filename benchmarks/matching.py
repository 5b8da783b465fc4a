"""Figures 1-3: the subscription index against brute force and against perq, in one process."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.report import Row, median, ms, percentile, secs
from benchmarks.scale import Scale, count
from benchmarks.workload import PaperGenerator, generate_queries, term_only_cnf
from bot.matching import PaperDocument, Query, document_for, matches, parse_query
from bot.matching.document import SEGMENT_BREAK, VIEW_INDEX
from bot.matching.index import Matches, SubscriptionIndex
from bot.matching.nodes import Field
from bot.models import Paper

QUERY_SEED = 1
DAY_SEED = 100  # day runs use seeds 100, 101, ...
POLL_SEED = 200
PERQ_SEED = 300
FROZEN_SEED = 150
WARMUP_SEED = 99
_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class MatchingWorkload:
    queries: list[Query]
    index: SubscriptionIndex
    build_seconds: float
    gc_seconds: float  # one full collection with the index loaded
    gc_objects: int  # objects the collector tracks


def build_workload(scale: Scale) -> MatchingWorkload:
    """Generate and index the subscriptions (the same queries go into the database for figures 5-6)."""
    start = time.perf_counter()
    queries = generate_queries(scale.subscriptions, QUERY_SEED)
    index = SubscriptionIndex()
    for sub_id, query in enumerate(queries, start=1):
        index.add(sub_id, query)
    # The stem cache is warm in a running bot: warm it with papers that are not timed.
    for paper in PaperGenerator(WARMUP_SEED, id_block=99).papers(200):
        document_for(paper)
    built = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    gc.collect()
    return MatchingWorkload(queries, index, built, time.perf_counter() - start, len(gc.get_objects()))


def figure_gc(scale: Scale, work: MatchingWorkload) -> Row:
    """Context: one full garbage collection with the index loaded (the bot's event loop stalls meanwhile),
    and the what-if of ``gc.freeze()`` after loading (the index then is never scanned again)."""
    day = PaperGenerator(FROZEN_SEED, id_block=15).papers(scale.day_papers)
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        gc.collect()
        frozen_pause = time.perf_counter() - start
        day_seconds, _ = _plan(work.index, day)
    finally:
        gc.unfreeze()
    return Row(
        figure=f"(context) full GC pause, {count(scale.subscriptions)} subs indexed"
        + (" [quick]" if scale.quick else ""),
        measured=ms(work.gc_seconds),
        target="-",
        baseline="-",
        passed=None,
        notes=[
            f"gc.collect() with {work.gc_objects:,} tracked objects (the queries kept for brute force, "
            "the leaf table); "
            "CPython runs one whenever enough new objects survive, blocking the event loop",
            f"what-if gc.freeze() after loading the index: a full collection takes {ms(frozen_pause)}, and "
            f"figure 1's matching path takes {secs(day_seconds)} (fresh papers; compare figure 1)",
        ],
        values={
            "seconds": work.gc_seconds,
            "objects": work.gc_objects,
            "frozen_pause": frozen_pause,
            "frozen_day": day_seconds,
        },
    )


def _plan(index: SubscriptionIndex, papers: Sequence[Paper]) -> tuple[float, Matches]:
    """The engine's matching path, timed: documents built, leaves found, every query evaluated.

    ``SubscriptionIndex.match_papers`` is what ``Engine.plan`` calls; it pauses the garbage collector
    itself, as in the bot. The result holds one row of paper bits per matching subscription.
    """
    start = time.perf_counter()
    found = index.match_papers(papers)
    return time.perf_counter() - start, found


def _expand(found: Matches) -> tuple[float, list[npt.NDArray[np.int64]]]:
    """Read a result out as each paper's sorted subscription ids, timed (what planning does next)."""
    start = time.perf_counter()
    by_paper = found.by_paper()
    return time.perf_counter() - start, by_paper


def _documents_seconds(papers: Sequence[Paper]) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for paper in papers:
            document_for(paper)
        return time.perf_counter() - start
    finally:
        gc.enable()


def figure_day(scale: Scale, work: MatchingWorkload) -> Row:
    """Figure 1: one arXiv day against every subscription, and brute force on a sample."""
    runs = []
    found = Matches(0, [])
    day: list[Paper] = []
    for repeat in range(scale.day_repeats):
        day = PaperGenerator(DAY_SEED + repeat, id_block=1 + repeat).papers(scale.day_papers)
        gc.collect()
        seconds, found = _plan(work.index, day)
        runs.append(seconds)
    total = sorted(runs)[len(runs) // 2]
    documents = _documents_seconds(day)
    expand, by_paper = _expand(found)
    pairs = sum(len(ids) for ids in by_paper)

    # Brute force: every query against every paper of a sample, with matches(); extrapolated to the day.
    sample = day[: scale.brute_sample]
    docs = [document_for(p) for p in sample]
    queries = [(sub_id, q) for sub_id, q in enumerate(work.queries, start=1)]
    gc.collect()
    start = time.perf_counter()
    brute = [{sub_id for sub_id, q in queries if matches(q, doc)} for doc in docs]
    brute_seconds = time.perf_counter() - start
    per_pair = brute_seconds / (len(docs) * len(queries))
    brute_day = documents + per_pair * len(queries) * len(day)
    identical = brute == [set(ids.tolist()) for ids in by_paper[: len(docs)]]
    speedup = brute_day / total

    passed = total <= 1.0 and speedup >= 50 and identical
    label = f"1. match: {count(scale.subscriptions)} subs x {count(scale.day_papers)} papers"
    counts = np.bincount(np.concatenate(by_paper), minlength=len(work.queries) + 1)
    per_sub = counts[1 : 1 + min(2000, len(work.queries))].tolist()
    return Row(
        figure=label + (" [quick]" if scale.quick else ""),
        measured=secs(total),
        target="<= 1 s and >= 50x brute",
        baseline=f"{speedup:.0f}x faster than brute force",
        passed=passed,
        notes=[
            f"median of {len(runs)} runs (fresh papers each) of SubscriptionIndex.match_papers (the call "
            f"Engine.plan makes): documents, leaves and every query; runs: {', '.join(secs(r) for r in runs)}; "
            f"building the documents alone takes {secs(documents)} of it",
            f"output: {pairs:,} (subscription, paper) matches = {pairs / len(day):,.0f} subscriptions per paper, "
            "held as one row of paper bits per matching subscription; "
            f"reading them out as each paper's sorted subscription ids (Matches.by_paper, as planning then does) "
            f"takes {secs(expand)} more",
            f"median subscription matches {statistics.median(per_sub)} of the {len(day):,} papers "
            f"(mean {statistics.mean(per_sub):.1f}, sample of {len(per_sub):,} subscriptions)",
            f"brute force EXTRAPOLATED: matches(q, doc) timed on {len(docs)} papers x {len(queries):,} queries "
            f"= {len(docs) * len(queries):,} pairs in {secs(brute_seconds)} ({per_pair * 1e9:.0f} ns/pair); "
            f"x {len(queries) * len(day):,} pairs + document building = {secs(brute_day)} for the day",
            f"results on the brute-force sample: {'identical' if identical else 'DIFFERENT'} to match_papers",
            f"index build (generate + parse + add {len(work.queries):,} queries): {secs(work.build_seconds)}",
        ],
        values={
            "seconds": total,
            "documents": documents,
            "expand": expand,
            "pairs": pairs,
            "brute_day": brute_day,
            "speedup": speedup,
            "identical": identical,
        },
    )


def figure_poll(scale: Scale, work: MatchingWorkload) -> Row:
    """Figure 2: a typical Hugging Face poll (a handful of new papers) against every subscription."""
    generator = PaperGenerator(POLL_SEED, id_block=10)
    times = []
    pairs = 0
    gc.collect()
    for _ in range(scale.poll_batches):
        seconds, found = _plan(work.index, generator.papers(scale.poll_papers))
        expand, by_paper = _expand(found)
        times.append(seconds + expand)
        pairs += sum(len(ids) for ids in by_paper)
    typical = median(times)
    return Row(
        figure=f"2. match: {count(scale.subscriptions)} subs x {scale.poll_papers} papers"
        + (" [quick]" if scale.quick else ""),
        measured=ms(typical),
        target="<= 20 ms",
        baseline=f"{typical / 0.020:.2f}x target",
        passed=typical <= 0.020,
        notes=[
            f"median of {len(times)} polls (fresh papers each), match_papers and each paper's sorted "
            f"subscription ids (Matches.by_paper, planning's read); p95 {ms(percentile(times, 95))}, "
            f"max {ms(max(times))}; "
            f"{pairs / len(times):,.0f} matches per poll"
        ],
        values={"seconds": typical, "p95": percentile(times, 95)},
    )


def _perq_terms(doc: PaperDocument) -> frozenset[str]:
    """The stems our matcher compares bare words with (title, abstract, keywords)."""
    return doc.views[VIEW_INDEX[Field.TEXT]].stem_set - {SEGMENT_BREAK}


def term_only_subset(queries: Sequence[Query]) -> list[tuple[int, str, list[list[str]]]]:
    """(subscription id, query text, AND-of-OR stem clauses) of the term-only queries."""
    return [
        (sub_id, q.text, cnf) for sub_id, q in enumerate(queries, start=1) if (cnf := term_only_cnf(q.root)) is not None
    ]


def figure_perq(scale: Scale, texts: Sequence[tuple[int, str, list[list[str]]]]) -> list[Row]:
    """Figure 3: docs/s against perq 0.2.1 on the term-only subset of the same queries.

    Run after the full index is released, so that neither engine pays for the other's garbage.
    """
    tag = " [quick]" if scale.quick else ""
    label = f"3. vs perq 0.2.1, term-only subset of {count(scale.subscriptions)} subs"
    try:
        import perq
    except ImportError:
        return [
            Row(
                label + tag,
                "skipped",
                "faster than perq",
                "perq not installed",
                None,
                notes=["pip install perq==0.2.1 (or: pip install -e '.[bench]') to run this figure"],
            )
        ]
    subset = [(sub_id, parse_query(text), cnf) for sub_id, text, cnf in texts]
    ours = SubscriptionIndex()
    start = time.perf_counter()
    for sub_id, query, _ in subset:
        ours.add(sub_id, query)
    ours_build = time.perf_counter() - start
    store = perq.MemoryStore()
    start = time.perf_counter()
    perq.index([perq.Query(sub_id, cnf) for sub_id, _, cnf in subset], store)
    perq_build = time.perf_counter() - start
    matcher = perq.QueryMatcher(store)

    papers = PaperGenerator(PERQ_SEED, id_block=20).papers(scale.perq_docs)
    start = time.perf_counter()
    docs = [document_for(p) for p in papers]
    prepare = time.perf_counter() - start

    # Both start from Papers: match_papers prepares its own documents, and perq's are our stem sets.
    gc.collect()
    start = time.perf_counter()
    theirs = [set(matcher.matches(perq.Document(_perq_terms(document_for(p))))) for p in papers]
    perq_seconds = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    streamed = [set(ours.match_papers([p]).pairs()[1].tolist()) for p in papers]
    ours_seconds = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    positions, sub_ids = ours.match_papers(papers).pairs()
    batch_seconds = time.perf_counter() - start
    batched: list[set[int]] = [set() for _ in papers]
    for position, sub_id in zip(positions.tolist(), sub_ids.tolist(), strict=True):
        batched[position].add(sub_id)

    n = len(docs)
    perq_rate, ours_rate, batch_rate = n / perq_seconds, n / ours_seconds, n / batch_seconds
    identical = theirs == streamed == batched
    pairs = sum(len(r) for r in streamed)
    context = [
        f"{len(subset):,} term-only queries (bare words with AND/OR, given to perq as AND-of-OR clauses of "
        f"Porter stems) x {n:,} papers with real-length abstracts, {pairs / n:,.0f} matches per paper; "
        "both start from Papers: SubscriptionIndex.match_papers prepares its own documents, and perq's are "
        f"our stem sets, so both times include document_for ({prepare / n * 1e6:,.0f} us/paper)",
        f"perq QueryMatcher.matches over a MemoryStore: {perq_rate:,.0f} docs/s; index build: ours "
        f"{secs(ours_build)}, perq {secs(perq_build)}; results {'identical' if identical else 'DIFFERENT'} "
        "for every paper",
    ]
    values = {"ours": ours_rate, "perq": perq_rate, "batch": batch_rate, "identical": identical, "queries": len(subset)}
    return [
        Row(
            figure=label.replace("3.", "3a.", 1) + ", one paper at a time" + tag,
            measured=f"{ours_rate:,.0f} docs/s",
            target="faster than perq",
            baseline=f"{ours_rate / perq_rate:.2f}x perq ({perq_rate:,.0f} docs/s)",
            passed=ours_rate > perq_rate and identical,
            notes=[
                *context,
                "SubscriptionIndex.match_papers per paper, like perq's matches() (the engine batches each "
                "poll; this is the same path with a batch of one); without preparing documents about "
                f"{n / max(ours_seconds - prepare, 1e-9):,.0f} docs/s",
            ],
            values=values,
        ),
        Row(
            figure=label.replace("3.", "3b.", 1) + ", whole batch" + tag,
            measured=f"{batch_rate:,.0f} docs/s",
            target="faster than perq",
            baseline=f"{batch_rate / perq_rate:.2f}x perq ({perq_rate:,.0f} docs/s)",
            passed=batch_rate > perq_rate and identical,
            notes=[
                f"SubscriptionIndex.match_papers over all {n:,} papers at once (the arXiv-day path), then "
                f".pairs(); without preparing documents about {n / max(batch_seconds - prepare, 1e-9):,.0f} docs/s"
            ],
            values=values,
        ),
    ]


def _profile(call: Callable[[], Any], top: int = 12) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    return "\n".join(line.replace(str(_ROOT) + "/", "") for line in lines[2:])


def profiles(scale: Scale, work: MatchingWorkload) -> list[str]:
    """cProfile of one figure-1 planning run and of ten figure-2 polls (top functions by own time)."""
    day = PaperGenerator(DAY_SEED, id_block=1).papers(scale.day_papers)
    polls = [PaperGenerator(POLL_SEED + 1, id_block=11).papers(scale.poll_papers) for _ in range(10)]
    gc.collect()
    return [
        f"profile: figure 1 planning path ({count(scale.subscriptions)} subs x {count(scale.day_papers)} papers)\n"
        + _profile(lambda: _plan(work.index, day)),
        f"profile: figure 2, ten polls of {scale.poll_papers} papers\n"
        + _profile(lambda: [_plan(work.index, papers) for papers in polls]),
    ]


def run_matching(scale: Scale, profile: bool = False) -> tuple[list[Row], list[str], list[str]]:
    """Figures 1-3 and context rows; returns (rows, query texts for the database, profiles)."""
    work = build_workload(scale)
    rows = [figure_day(scale, work), figure_poll(scale, work), figure_gc(scale, work)]
    profiled = profiles(scale, work) if profile else []
    texts = [q.text for q in work.queries]
    subset = term_only_subset(work.queries)
    del work
    gc.collect()
    rows[2:2] = figure_perq(scale, subset)
    return rows, texts, profiled
