"""The daily maintenance job: prune papers past ``storage.keep_papers_days`` and give the space back.

Pruning goes a batch per transaction, so polls, deliveries and commands keep going in between, and a stop
signal ends it between two batches. What is kept, and for how long, is listed in README ("Operations").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store import Store

log = logging.getLogger(__name__)

PRUNE_BATCH = 2000  # papers per transaction: a few tens of milliseconds of writer time
MERGE_PAGES = 500  # full-text pages rewritten per transaction (~2 MB, ~0.1 s of writer time)
MAX_MERGE_STEPS = 100_000  # a bound, never reached in practice: merging ends when nothing is left to merge


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    """What one maintenance run did."""

    pruned: int
    bytes_before: int
    bytes_after: int
    vacuumed: bool  # the one-off full VACUUM that switched an older database to incremental auto-vacuum


async def run_maintenance(
    store: Store,
    now: datetime,
    keep_days: int,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    batch: int = PRUNE_BATCH,
) -> MaintenanceResult:
    """Prune papers first seen more than ``keep_days`` days before ``now`` (0: none), then release free pages."""
    before = (await store.storage_stats()).file_bytes
    pruned = 0
    if keep_days > 0:
        cutoff = now - timedelta(days=keep_days)
        while not should_stop():
            removed = await store.prune_papers(cutoff, batch)
            pruned += removed
            if removed < batch:
                break
            await asyncio.sleep(0)  # let polls, deliveries and commands in between batches
    if pruned:
        # Pruned papers' full-text entries only leave the index when its segments merge: merge them, a step
        # at a time, so the index (and the file) stays the size of what is kept.
        for _ in range(MAX_MERGE_STEPS):
            if should_stop() or not await store.merge_full_text(MERGE_PAGES):
                break
            await asyncio.sleep(0)
    vacuumed = False
    if not should_stop():
        vacuumed = not await store.incremental_vacuum_enabled()
        if vacuumed:
            log.info("switching the database to incremental auto-vacuum: a one-off VACUUM (rewrites the file)")
            await store.enable_incremental_vacuum()
        else:
            await store.release_free_pages()
    after = (await store.storage_stats()).file_bytes
    return MaintenanceResult(pruned, before, after, vacuumed)
