"""Hostile sources, measured (issue 16 items 4 and 5): event-loop lag while a huge feed is read, and memory while a
gzip bomb is refused. Run: ``python -m benchmarks.hostile_sources`` (about 30 s; loopback only).

The lag probe is a task that sleeps 10 ms at a time and records how late each tick fires. "on the loop" parses
the same bytes with feedparser on the event loop, as the sources did before; "source" is RssSource.fetch, which
parses in a worker thread.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.config import FeedSettings, HuggingFaceSettings
from bot.devtools.fakes.hostile import GZIP_HEADERS, gzip_bomb
from bot.devtools.fakes.huggingface import FakeHuggingFace
from bot.devtools.fakes.rss import FakeFeed, rss_document
from bot.sources.base import SourceError
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.rss import RssSource, parse_feed
from tests.conftest import T0

ENTRIES = 10_000


async def max_lag(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """(the worst lateness of a 10 ms tick while ``work`` ran, in ms; its result)."""
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - start - 0.01) * 1000)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.05)
    try:
        result = await work()
    finally:
        done.set()
        await task
    return max(lags), result


async def huge_feed() -> None:
    items = [
        {"title": f"Paper {n} on attention", "link": f"https://journal.example/a/{n}", "summary": "<p>x</p>" * 50}
        for n in range(ENTRIES)
    ]
    body = rss_document(items).encode()
    feed = FakeFeed("rss")
    await feed.start()
    try:
        feed.fail_next(200, body=body)  # served as is: the fake's own rendering stays out of the measurement
        source = RssSource(FeedSettings(name="big", url=feed.url, max_body_bytes=len(body) + 1))
        async with aiohttp.ClientSession() as session:
            threaded, papers = await max_lag(lambda: source.fetch(session, T0))

        async def on_loop() -> list[Any]:
            return parse_feed(body, "big")

        inline, _ = await max_lag(on_loop)
    finally:
        await feed.stop()
    print(f"feed of {ENTRIES:,} entries, {len(body) / 1e6:.1f} MB: {len(papers):,} papers")
    print(f"  max event-loop lag: parsed on the loop {inline:.0f} ms; in the source (worker thread) {threaded:.0f} ms")


async def bomb() -> None:
    hf = FakeHuggingFace()
    await hf.start()
    try:
        body = gzip_bomb(512 * 1024**2)
        hf.fail_next(200, body=body, headers=GZIP_HEADERS)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        async with aiohttp.ClientSession() as session:
            try:
                await HuggingFaceSource(HuggingFaceSettings(url=hf.url)).fetch(session, T0)
            except SourceError as exc:
                outcome = str(exc)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    finally:
        await hf.stop()
    print(f"gzip bomb: {len(body) / 1024:.0f} KiB → 512 MiB; peak RSS grew {grown:.0f} MiB; {outcome}")


async def main() -> None:
    await bomb()  # first: the peak RSS is the process's so far
    await huge_feed()


if __name__ == "__main__":
    asyncio.run(main())
