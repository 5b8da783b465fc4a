"""The engine's reading side: search, "why (not) posted?" and previews. Discord-free, like the engine."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.matching import Query, document_for, matches
from bot.matching.explain import Explanation, explain
from bot.models import DeliveryRecord, DeliveryStatus, Mode, Paper, Schedule, Subscription
from bot.relevance.planning import query_of
from bot.store import Store

PREVIEW_DAYS = 7
SEARCH_CANDIDATES = 100  # full-text candidates fetched before exact matching and ranking
SEARCH_SCAN = 5000  # recent papers scanned when a query cannot use the full-text index


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
        """Stored papers matching ``query``, best first: FTS5 relevance blended with upvotes and recency.

        FTS5 selects candidates (bm25 relevance); the exact matcher keeps only true matches. A query FTS5
        cannot constrain (only categories, say) is matched against the most recent papers instead.
        """
        found = await self.store.search_papers(query.root, SEARCH_CANDIDATES, source)
        if found is None:
            scored = [(p, 0.0) for p in await self.store.latest_papers(SEARCH_SCAN, source)]
        else:
            scored = [(p, -bm25) for p, bm25 in found]
        hits = [(p, relevance) for p, relevance in scored if matches(query, document_for(p))]
        if not hits:
            return []
        top_relevance = max(r for _, r in hits) or 1.0
        top_upvotes = math.log1p(max(p.upvotes for p, _ in hits)) or 1.0
        now = self.clock()

        def score(item: tuple[Paper, float]) -> float:
            paper, relevance = item
            age_days = (now - (paper.first_seen_at or now)).total_seconds() / 86400
            return (
                relevance / top_relevance
                + 0.3 * math.log1p(paper.upvotes) / top_upvotes
                + 0.3 * math.exp(-max(age_days, 0) / 7)
            )

        return [p for p, _ in sorted(hits, key=score, reverse=True)[:limit]]

    async def explain(self, paper: Paper, sub: Subscription) -> PaperExplanation:
        """Did ``paper`` match ``sub``, and if it matched, why was it (not) delivered?"""
        query = query_of(sub)
        verdict = explain(query, document_for(paper)) if query is not None else Explanation(True, (), ())
        record = await self.store.delivery_record(sub.id, paper.id)
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

    async def preview(self, query: Query, days: int = PREVIEW_DAYS) -> list[Paper]:
        """Stored papers first seen in the last ``days`` days that match ``query``, newest first."""
        since = self.clock() - timedelta(days=days)
        papers = await self.store.papers_seen_since(since, root=query.root)
        return [p for p in papers if matches(query, document_for(p))]
