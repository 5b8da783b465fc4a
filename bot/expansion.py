"""The background expansion of compact matches (bot/store/matches.py) into outbox rows, on the leader.

A big poll keeps its matches compact; this task turns them into outbox rows a chunk per transaction, oldest paper
first, while the outbox holds fewer than :data:`PENDING_BOUND` rows waiting to be sent. Discord lets a bot send
~500 papers a second, so the rows need only exist shortly before the sender reaches them; bounding them keeps the
database small and the writer free for commands. Only the process that polls (the leader, in a cluster) expands: a
new leader resumes from the compact rows' cursors. Woken after each poll that kept matches compact and after each
delivery run; otherwise it looks again every :data:`IDLE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

from bot.store import Store
from bot.store.outbox import QUEUE_CHUNK

log = logging.getLogger(__name__)

PENDING_BOUND = 20_000  # outbox rows waiting to be sent below which expansion adds more
IDLE_SECONDS = 5.0
# When the outbox stays full this long (a cluster process whose servers hold the waiting rows is down, say), a chunk
# is expanded anyway, so the other processes' papers keep coming, slowly, instead of not at all.
STALLED_SECONDS = 60.0


class Expansion:
    """The expansion task: :meth:`start` it with the engine, :meth:`wake` it when there may be work, :meth:`stop`
    it before the store closes (the chunk being written is committed first)."""

    def __init__(
        self,
        store: Store,
        on_expanded: Callable[[], None] | None = None,
        pending_bound: int | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.store = store
        self.on_expanded = on_expanded  # told after a round that queued rows (the bot starts a delivery run)
        self.pending_bound = PENDING_BOUND if pending_bound is None else pending_bound
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._full_since: float | None = None  # since when the outbox has had no room (loop time)

    def start(self) -> None:
        """Start expanding in the background."""
        self._task = asyncio.create_task(self._run(), name="paperbot-expansion")

    def wake(self) -> None:
        """Look for work now (a poll kept matches compact, or the sender made room)."""
        self._wake.set()

    async def stop(self, grace: float) -> None:
        """Finish the chunk being expanded and stop; past ``grace`` seconds (a hung database) the chunk's
        transaction is cancelled, and so rolled back."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            _, hung = await asyncio.wait([self._task], timeout=grace)
            for task in hung:
                task.cancel()
            await asyncio.gather(*hung, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                expanded = await self.expand()
            except Exception:  # the database went away, say: the rows stay compact and are tried again
                log.exception("expanding compact matches failed; trying again shortly")
                expanded = 0
            if expanded and self.on_expanded is not None:
                self.on_expanded()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)

    async def expand(self) -> int:
        """Expand chunks while this process leads, something is compact and the outbox has room; returns the pairs
        taken."""
        taken = 0
        while not self._stopping and await self.store.coordination.is_leader():
            room = self.pending_bound - await self.store.waiting_rows(self.pending_bound)
            if room > 0:
                self._full_since = None
            elif self._stalled():
                room = QUEUE_CHUNK
            else:
                break
            chunk = await self.store.expand_matches(min(QUEUE_CHUNK, room))
            if not chunk:
                break
            taken += chunk
        return taken

    def _stalled(self) -> bool:
        """Whether the outbox has been full for :data:`STALLED_SECONDS` (then the wait starts again)."""
        now = asyncio.get_running_loop().time()
        if self._full_since is None:
            self._full_since = now
        if now - self._full_since < STALLED_SECONDS:
            return False
        self._full_since = now
        return True
