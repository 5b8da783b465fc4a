"""The Discord-free core: polls sources into the store, keeps the subscription index, plans deliveries.

Slash commands and the scheduler call into this; it never posts anything itself (the sender does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.matching import Query, document_for, matches, parse_query


class SubscriptionIndex:  # TEMP until bot.matching.index lands
    def __init__(self) -> None:
        self.q: dict[int, Query] = {}

    def add(self, i: int, q: Query) -> None:
        self.q[i] = q

    def remove(self, i: int) -> None:
        self.q.pop(i, None)

    def match(self, doc):  # type: ignore[no-untyped-def]
        return {i for i, q in self.q.items() if matches(q, doc)}

from bot.models import Paper, Subscription, SubscriptionStatus
from bot.sources.base import Source, SourceError, backoff_delay
from bot.store import DeliveryKey, Store

log = logging.getLogger(__name__)

PREVIEW_DAYS = 7


def utc_now() -> datetime:
    return datetime.now(UTC)


class LimitReached(Exception):
    """A per-server cap (e.g. subscriptions) would be exceeded; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class PollResult:
    source: str
    fetched: int = 0
    new: int = 0
    queued: int = 0
    error: str | None = None
    skipped: bool = False
    catalogued: bool = False


class Engine:
    """Owns the subscription index and the data path source → store → matcher → outbox."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utc_now,
                 max_subscriptions_per_guild: int = 50) -> None:
        self.store = store
        self.clock = clock
        self.max_subscriptions_per_guild = max_subscriptions_per_guild
        self.index = SubscriptionIndex()
        self._retry_at: dict[str, datetime] = {}

    async def load(self) -> None:
        """Index every active subscription (at start)."""
        for sub in await self.store.active_subscriptions():
            try:
                self.index.add(sub.id, parse_query(sub.query))
            except ValueError:
                log.exception("stored subscription #%d has a query that no longer parses; skipping it", sub.id)

    # -- polling --------------------------------------------------------------------------------------

    def plan(self, papers: Sequence[Paper]) -> list[DeliveryKey]:
        """(subscription, paper) pairs for newly seen papers, from the index."""
        keys: list[DeliveryKey] = []
        for paper in papers:
            keys.extend((sub_id, paper.id) for sub_id in sorted(self.index.match(document_for(paper))))
        return keys

    async def poll(self, source: Source, session: aiohttp.ClientSession) -> PollResult:
        """Fetch one source and store what it lists; new papers are matched and queued atomically.

        A failed fetch marks nothing seen and backs off. The very first successful poll of a source only
        catalogues what is listed, so a fresh install never floods channels with the existing backlog.
        """
        now = self.clock()
        retry_at = self._retry_at.get(source.name)
        if retry_at is not None and now < retry_at:
            return PollResult(source.name, skipped=True)
        state = await self.store.source_state(source.name)
        try:
            papers = await source.fetch(session, now)
        except SourceError as exc:
            failures = await self.store.record_source_result(source.name, now, str(exc))
            delay = backoff_delay(source.poll_interval, failures)
            self._retry_at[source.name] = now + timedelta(seconds=delay)
            log.warning("%s poll failed (%d in a row; next try in %.0fs): %s",
                        source.name, failures, delay, exc)
            return PollResult(source.name, error=str(exc))
        first = state is None or state.last_success_at is None
        result = await self.store.ingest(papers, (lambda _: ()) if first else self.plan, now)
        await self.store.record_source_result(source.name, now, None)
        self._retry_at.pop(source.name, None)
        log.info("%s: %d listed, %d new, %d deliveries queued%s", source.name, len(papers),
                 len(result.new_papers), result.queued, " (first poll: catalogued only)" if first else "")
        return PollResult(source.name, len(papers), len(result.new_papers), result.queued, catalogued=first)

    # -- subscriptions --------------------------------------------------------------------------------

    async def add_subscription(self, *, guild_id: int, channel_id: int, query: Query, created_by: int,
                               backfill: int = 0) -> tuple[Subscription, int]:
        """Create a subscription; queue up to ``backfill`` of the newest stored matches. Returns (sub, queued)."""
        if await self.store.count_subscriptions(guild_id) >= self.max_subscriptions_per_guild:
            raise LimitReached(
                f"This server already has {self.max_subscriptions_per_guild} subscriptions, the most allowed. "
                "Remove one with `/subscriptions remove` first."
            )
        backfill_ids = [p.id for p in (await self.preview(query))[:backfill]] if backfill > 0 else []
        sub = await self.store.add_subscription(
            guild_id=guild_id, channel_id=channel_id, query=query.text, created_by=created_by,
            now=self.clock(), backfill=backfill_ids,
        )
        self.index.add(sub.id, query)
        return sub, len(backfill_ids)

    async def set_status(self, guild_id: int, subscription_id: int, status: SubscriptionStatus | str,
                         reason: str | None = None) -> Subscription | None:
        """Pause, resume or remove one of this guild's subscriptions; None when not found."""
        sub = await self.store.get_subscription(guild_id, subscription_id)
        if sub is None or not await self.store.set_subscription_status(guild_id, subscription_id, status, reason):
            return None
        if status == SubscriptionStatus.ACTIVE:
            self.index.add(sub.id, parse_query(sub.query))
        else:
            self.index.remove(sub.id)
        return sub

    def forget_subscriptions(self, subscription_ids: Sequence[int]) -> None:
        """Drop paused subscriptions from the index (the sender paused them in the store)."""
        for sub_id in subscription_ids:
            self.index.remove(sub_id)

    async def preview(self, query: Query, days: int = PREVIEW_DAYS) -> list[Paper]:
        """Stored papers first seen in the last ``days`` days that match ``query``, newest first."""
        papers = await self.store.papers_seen_since(self.clock() - timedelta(days=days))
        return [p for p in papers if matches(query, document_for(p))]
