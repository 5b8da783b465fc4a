"""Recommend mode's share of planning: which of a poll's candidate papers each recommend-mode subscription gets.

The engine's ``plan`` hands over the (paper, subscription) pairs that passed a recommend-mode subscription's
query gate (every new paper, for one without a query); this keeps those its target's model scores above the
threshold, best first, and at most the day's remaining quota for instant delivery (digests list them all).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.matching import Query, parse_query
from bot.models import DeliveryKey, Paper, Schedule, Subscription, Target
from bot.relevance.recommender import Scores

RECOMMEND_PER_DAY = 5  # instant deliveries per day per recommend-mode subscription, unless it sets max_per_day


@dataclass(frozen=True, slots=True)
class RecommendSub:
    """What planning needs to know about one recommend-mode subscription."""

    target: Target
    instant: bool
    gated: bool  # has a query, which papers must match first
    min_upvotes: int = 0
    per_day: int = RECOMMEND_PER_DAY  # instant deliveries a day at most: the subscription's max_per_day, or 5

    @classmethod
    def of(cls, sub: Subscription) -> RecommendSub:
        instant = sub.schedule is Schedule.INSTANT
        return cls(sub.target, instant, bool(sub.query.strip()), sub.min_upvotes, per_day_of(sub))


def per_day_of(sub: Subscription) -> int:
    """How many papers a recommend-mode subscription delivers a day at most: ``max_per_day``, else 5."""
    return sub.max_per_day or RECOMMEND_PER_DAY


@dataclass(frozen=True, slots=True)
class RecommendPlan:
    """One poll's scores and each instant recommend-mode subscription's remaining deliveries for today."""

    scores: Scores
    remaining: dict[int, int] = field(default_factory=dict)

    def pick(self, candidates: Iterable[tuple[Paper, int]], subs: dict[int, RecommendSub]) -> list[DeliveryKey]:
        """The deliveries among ``candidates``: above the threshold, best first, within today's quota."""
        ranked: dict[int, list[tuple[float, Paper]]] = {}
        for paper, sub_id in candidates:
            sub = subs[sub_id]
            score = self.scores.recommended(sub.target, paper.id)
            if score is not None and paper.upvotes >= sub.min_upvotes:
                ranked.setdefault(sub_id, []).append((score, paper))
        keys: list[DeliveryKey] = []
        for sub_id, items in ranked.items():
            items.sort(key=lambda item: (-item[0], -item[1].upvotes, item[1].id))
            if subs[sub_id].instant:
                items = items[: max(self.remaining.get(sub_id, subs[sub_id].per_day), 0)]
            keys.extend((sub_id, paper.id) for _, paper in items)
        return keys


def day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: the per-day quota's period."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def query_of(sub: Subscription) -> Query | None:
    """A subscription's parsed query; None for a recommend-mode one without a query (its profile decides)."""
    return parse_query(sub.query) if sub.query.strip() else None
