"""The engine's reading side: search, "why (not) posted?" and previews. Discord-free, like the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import search as searching
from bot.matching import Query, document_for
from bot.matching.explain import Explanation, explain
from bot.models import DeliveryRecord, DeliveryStatus, Mode, Paper, Schedule, Subscription
from bot.relevance.planning import query_of
from bot.store import Store

PREVIEW_DAYS = 7


@dataclass(frozen=True, slots=True)
class PaperExplanation:
    """The answer to "why was this (not) posted?" for one subscription."""

    subscription: Subscription
    verdict: Explanation
    reason: str
    delivery: DeliveryRecord | None


class PaperReading:
    """The reading part of :class:`bot.engine.Engine`, which provides ``store`` and ``clock``."""

    store: Store
    clock: Callable[[], datetime]

    async def search(self, query: Query, source: str | None = None, limit: int = 100) -> list[Paper]:
        """Stored papers matching ``query``, best first (see :func:`bot.search.search`); QueryTooBroad when it
        would cost too much."""
        return await searching.search(self.store, query, self.clock(), source, limit)

    async def explain(self, paper: Paper, sub: Subscription) -> PaperExplanation:
        """Did ``paper`` match ``sub``, and if it matched, why was it (not) delivered?"""
        query = query_of(sub)
        verdict = explain(query, document_for(paper)) if query is not None else Explanation(True, (), ())
        record = await self.store.delivery_record(sub.id, paper.id)
        if record is None and await self.store.compact_pair(sub.id, paper.id):
            # Matched and still compact (bot/store/matches.py): as good as queued, or held for the digest.
            status = DeliveryStatus.PENDING if sub.schedule is Schedule.INSTANT else DeliveryStatus.HELD
            record = DeliveryRecord(status, None, None, None)
        paused = f"the subscription is paused ({sub.pause_reason or 'no reason given'})"
        if record is not None:
            if record.status is DeliveryStatus.SENT:
                return PaperExplanation(sub, verdict, "delivered", record)
            if not sub.active:
                return PaperExplanation(sub, verdict, paused + "; it will be posted when resumed", record)
            if record.status is DeliveryStatus.HELD and sub.schedule is Schedule.INSTANT:
                overflow = "over today's max_per_day: listed in the overflow message at the digest time"
                return PaperExplanation(sub, verdict, overflow, record)
            if record.status is DeliveryStatus.HELD:
                return PaperExplanation(sub, verdict, f"waiting for the {sub.schedule} digest", record)
            if record.status is DeliveryStatus.FAILED:
                return PaperExplanation(sub, verdict, f"delivery failed: {record.last_error}", record)
            retry = f" (retrying after: {record.last_error})" if record.last_error else ""
            return PaperExplanation(sub, verdict, "queued: it will be posted within seconds" + retry, record)
        if not verdict.matched:
            return PaperExplanation(sub, verdict, "it does not match the query", None)
        if paper.first_seen_at is not None and paper.first_seen_at < sub.created_at:
            return PaperExplanation(
                sub,
                verdict,
                "it was listed before the subscription existed (only newer papers are posted, unless backfilled)",
                None,
            )
        if paper.upvotes < sub.min_upvotes:
            return PaperExplanation(
                sub,
                verdict,
                f"it has {paper.upvotes} upvotes, below this subscription's min_upvotes of {sub.min_upvotes}",
                None,
            )
        if not sub.active:
            return PaperExplanation(sub, verdict, paused, None)
        if sub.mode is Mode.RECOMMEND:
            return PaperExplanation(sub, verdict, "recommend mode: it was not among the best its profile scored", None)
        return PaperExplanation(
            sub, verdict, "it matches but has not been queued yet; it will be considered on the next poll", None
        )

    async def preview(self, query: Query, days: int = PREVIEW_DAYS, shown: int = 10) -> tuple[int, list[Paper]]:
        """How many stored papers first seen in the last ``days`` days match ``query``, and the newest ``shown``;
        QueryTooBroad when it would cost too much."""
        return await searching.preview(self.store, query, self.clock(), days, shown)

    async def backfill_matches(self, query: Query, count: int, min_upvotes: int) -> list[Paper]:
        """The newest ``count`` stored matches of the last :data:`PREVIEW_DAYS` days with ``min_upvotes``, for a
        new subscription's backfill; QueryTooBroad when finding them would cost too much."""
        since = self.clock() - timedelta(days=PREVIEW_DAYS)
        return await searching.matches_since(self.store, query, since, count, min_upvotes)
