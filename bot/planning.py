"""Which subscriptions get which papers: the subscription index, kept up to date, and delivery planning.

Matching a 2,500-paper day against 100,000 subscriptions, expanding the matches into (subscription, paper) pairs
and parsing every stored query at start are CPU work of seconds. It runs in a worker thread, a slice of papers
(or a page of subscriptions) per call, so the event loop keeps answering commands and the gateway. While a thread
uses the index nothing else may change it: :meth:`DeliveryPlanner.reading` covers the thread's work, changes that
can fail (adding a query: the index may have no room) wait in :meth:`DeliveryPlanner.changing`, and removals —
which cannot fail, and come from code that cannot wait — are held until the thread is done.

A poll's deliveries are streamed: :meth:`DeliveryPlanner.listing` matches the papers the store finds new a slice
at a time and hands the store each slice's plain matches as NumPy arrays of each paper's subscription ids
(:class:`~bot.store.matches.CompactMatches`), which a big poll stores compactly for the background expansion, so no
Python object per pair (16 million at 100,000 subscriptions) is ever made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import numpy as np

from bot.matching import Query
from bot.matching.index import SubscriptionIndex
from bot.models import DeliveryKey, Mode, Paper, Subscription
from bot.relevance.planning import RecommendPlan, RecommendSub
from bot.store.matches import CompactMatches, Ids
from bot.store.outbox import Matched

log = logging.getLogger(__name__)
T = TypeVar("T")

# New papers matched per worker-thread call: one call over a whole day would hold the interpreter lock (NumPy's
# long calls do not let go of it) and so the event loop for as long as a single call runs.
PLAN_SLICE = 100
_NONE: Ids = np.zeros(0, dtype=np.int64)


@dataclass(slots=True)
class _Slice:
    """Some papers' matches: each paper's subscriptions that take every match (sorted ids, in the papers' order),
    and the threshold and gated recommend-mode subscriptions each paper matched, which planning decides one by
    one."""

    paper_ids: list[str]
    plain: list[Ids]
    thresholds: dict[str, list[int]] = field(default_factory=dict)
    recommend: dict[str, list[int]] = field(default_factory=dict)


class DeliveryPlanner:
    """The subscription index with what planning needs beyond it, and the planning itself."""

    def __init__(self) -> None:
        self.index = SubscriptionIndex()
        # What planning needs beyond the index, kept only for the few subscriptions with a min_upvotes
        # threshold: (min_upvotes, created_at). Holding every Subscription would cost ~1 KB each.
        self.thresholds: dict[int, tuple[int, datetime]] = {}
        self.recommend: dict[int, RecommendSub] = {}  # recommend-mode subscriptions (see bot.relevance.planning)
        self._holders = [0, 0]  # of reading() (work in worker threads uses the index), of changing()
        self._turn = asyncio.Condition()
        self._held: list[int] = []  # removals waiting for the readers to finish
        self._removed: list[set[int]] = []  # per plan being streamed: subscriptions removed since it started

    # -- who may use the index --------------------------------------------------------------------------

    def reading(self) -> AbstractAsyncContextManager[None]:
        """Hold the index for work in worker threads (and for a plan being streamed): changes wait."""
        return self._holding(writer=False)

    def changing(self) -> AbstractAsyncContextManager[None]:
        """Hold the index for changes made on the event loop (they wait for any worker thread to finish)."""
        return self._holding(writer=True)

    @asynccontextmanager
    async def _holding(self, writer: bool) -> AsyncIterator[None]:
        """Readers share the index with each other, writers with each other (their changes are made on the loop,
        one at a time), never readers with writers."""
        async with self._turn:
            await self._turn.wait_for(lambda: not self._holders[not writer])
            self._holders[writer] += 1
        try:
            yield
        finally:
            self._holders[writer] -= 1
            if not self._holders[False]:
                held, self._held = self._held, []
                for sub_id in held:
                    self._discard(sub_id)
            async with self._turn:
                self._turn.notify_all()

    async def off_loop(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work`` in a worker thread (inside :meth:`reading`). Cancelled, it still waits for the thread, which
        cannot be stopped, so the index is never changed under it."""
        future = asyncio.get_running_loop().run_in_executor(None, partial(work, *args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            with suppress(Exception):
                await future
            raise

    # -- changes ----------------------------------------------------------------------------------------

    def add(self, sub: Subscription, query: Query | None) -> None:
        """Index a subscription (inside :meth:`changing`, or from a thread inside :meth:`reading` at start);
        OverflowError, the index unchanged, when its words do not fit."""
        if query is not None:
            self.index.add(sub.id, query)
        if sub.mode is Mode.RECOMMEND:
            self.recommend[sub.id] = RecommendSub.of(sub)
        if sub.min_upvotes > 0 and sub.mode is Mode.MATCH:  # recommend mode applies its own (RecommendSub)
            self.thresholds[sub.id] = (sub.min_upvotes, sub.created_at)
        else:
            self.thresholds.pop(sub.id, None)

    def remove(self, subscription_id: int) -> None:
        """Take a subscription out of the index: at once, or when the worker threads using it are done. Plans
        being streamed leave it out from now on."""
        for removed in self._removed:
            removed.add(subscription_id)
        if self._holders[False]:
            self._held.append(subscription_id)
        else:
            self._discard(subscription_id)

    def _discard(self, subscription_id: int) -> None:
        if subscription_id in self.index:
            self.index.remove(subscription_id)
        self.thresholds.pop(subscription_id, None)
        self.recommend.pop(subscription_id, None)

    # -- planning ---------------------------------------------------------------------------------------

    def plan(
        self, new: Sequence[Paper], recheck: Sequence[Paper] = (), recommend: RecommendPlan | None = None
    ) -> list[DeliveryKey]:
        """(subscription, paper) pairs to deliver, all at once on the calling thread (small batches and tests;
        polls stream theirs through :meth:`listing`).

        ``new`` papers go to every matching subscription whose ``min_upvotes`` they reach. ``recheck``
        papers (seen recently, metadata just updated) go only to threshold subscriptions they now reach
        and that existed when the paper was first seen. Recommend-mode subscriptions get what ``recommend`` picks
        among the new papers their query (if any) lets through. The outbox ignores pairs it already holds.
        """
        part = self._match_slice(new)
        matched = self._by_paper(part, set())
        keys = [
            (sub_id, paper.id)
            for paper in new
            for sub_id in sorted([*matched.get(paper.id, _NONE).tolist(), *self._reached(part, paper)])
        ]
        rechecked = [self._match_slice(recheck)] if recheck and self.thresholds else []
        return keys + self._special(new, [part, *rechecked], recheck, recommend, set())

    def listing(
        self, recommend: RecommendPlan | None
    ) -> Callable[[Sequence[Paper], Sequence[Paper]], AsyncIterator[Matched | CompactMatches]]:
        """A planner for :meth:`bot.store.Store.ingest` (call it inside :meth:`reading`): it streams the new
        papers' matches, matched a slice at a time in a worker thread — each slice's plain matches as one
        :class:`CompactMatches`, the few special pairs as chunks."""
        return lambda new, recheck: self._stream(new, recheck, recommend)

    async def _stream(
        self, new: Sequence[Paper], recheck: Sequence[Paper], recommend: RecommendPlan | None
    ) -> AsyncIterator[Matched | CompactMatches]:
        removed: set[int] = set()
        self._removed.append(removed)
        try:
            parts = []
            for start in range(0, len(new), PLAN_SLICE):
                papers = new[start : start + PLAN_SLICE]
                part = await self.off_loop(self._match_slice, papers)
                if any(len(ids) for ids in part.plain):
                    yield CompactMatches(await self.off_loop(self._by_paper, part, set(removed)))
                reached = {p.id: [s for s in self._reached(part, p) if s not in removed] for p in papers}
                if any(reached.values()):
                    yield reached
                part.plain = []  # only the few special ones are kept
                parts.append(part)
            for start in range(0, len(recheck) if self.thresholds else 0, PLAN_SLICE):
                part = await self.off_loop(self._match_slice, recheck[start : start + PLAN_SLICE])
                part.plain = []  # only thresholds take a recheck
                parts.append(part)
            matched: dict[str, list[int]] = {}
            for sub_id, paper_id in self._special(new, parts, recheck, recommend, removed):
                matched.setdefault(paper_id, []).append(sub_id)
            if matched:
                yield matched
        finally:
            self._removed.remove(removed)

    def _by_paper(self, part: _Slice, removed: set[int]) -> dict[str, Ids]:
        """A slice's plain matches by paper id, without the subscriptions removed since the plan started."""
        gone = np.fromiter(removed, np.int64, len(removed)) if removed else None
        return {
            paper_id: ids if gone is None else ids[~np.isin(ids, gone)]
            for paper_id, ids in zip(part.paper_ids, part.plain, strict=True)
            if len(ids)
        }

    def _reached(self, part: _Slice, paper: Paper) -> list[int]:
        """The threshold subscriptions a new paper matched and whose ``min_upvotes`` it reaches."""
        thresholds = self.thresholds
        return [s for s in part.thresholds.get(paper.id, ()) if s in thresholds and paper.upvotes >= thresholds[s][0]]

    def _special(
        self,
        new: Sequence[Paper],
        parts: Sequence[_Slice],
        recheck: Sequence[Paper],
        recommend: RecommendPlan | None,
        removed: set[int],
    ) -> list[DeliveryKey]:
        """Threshold re-checks of ``recheck`` papers and recommend mode's picks among the ``new`` ones."""
        thresholds, recommending = self.thresholds, self.recommend
        matched_thresholds = {k: v for part in parts for k, v in part.thresholds.items()}
        keys: list[DeliveryKey] = []
        for paper in recheck:
            for sub_id in matched_thresholds.get(paper.id, ()):
                threshold = thresholds.get(sub_id)
                if (
                    threshold is not None
                    and sub_id not in removed
                    and threshold[0] <= paper.upvotes
                    and paper.first_seen_at is not None
                    and paper.first_seen_at >= threshold[1]
                ):
                    keys.append((sub_id, paper.id))
        if recommend is not None:
            candidates = [(p, sub_id) for sub_id, s in recommending.items() if not s.gated for p in new]
            gated = {k: v for part in parts for k, v in part.recommend.items()}
            candidates += [(p, sub_id) for p in new for sub_id in gated.get(p.id, ()) if sub_id in recommending]
            live = {sub_id: s for sub_id, s in recommending.items() if sub_id not in removed}
            keys.extend(recommend.pick([c for c in candidates if c[1] in live], live))
        return keys

    def _match_slice(self, papers: Sequence[Paper]) -> _Slice:
        """Match some papers: each paper's subscriptions in id order (the order compact matches are packed and
        expanded in), as :meth:`bot.matching.index.Matches.by_paper` gives them, the special ones set apart."""
        plain = self.index.match_papers(papers).by_paper()
        part = _Slice([paper.id for paper in papers], plain)
        special_ids = sorted(self.thresholds.keys() | self.recommend.keys())
        if special_ids:
            special_array = np.array(special_ids, dtype=np.int64)
            for position, ids in enumerate(plain):
                special = np.isin(ids, special_array)
                if not special.any():
                    continue
                for sub_id in ids[special].tolist():
                    into = part.recommend if sub_id in self.recommend else part.thresholds
                    into.setdefault(papers[position].id, []).append(sub_id)
                plain[position] = ids[~special]
        return part
