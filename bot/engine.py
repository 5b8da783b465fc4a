"""The Discord-free core: polls sources into the store, keeps the subscription index, plans deliveries.

Slash commands and the scheduler call into this; it never posts anything itself (the sender does).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.config import LimitsSettings
from bot.matching import Query
from bot.matching.index import SubscriptionIndex
from bot.models import (
    DeliveryKey,
    Mode,
    Owner,
    Paper,
    Schedule,
    Scope,
    SourceHealth,
    SourceState,
    Subscription,
    SubscriptionStatus,
)
from bot.pacing import backoff_delay
from bot.planning import DeliveryPlanner
from bot.reading import PaperReading
from bot.relevance.planning import RecommendPlan, day_start, query_of
from bot.relevance.recommender import Recommender
from bot.sources.base import Source, SourceError, redact_text
from bot.store import Store
from bot.store.subscriptions import StoredQuery

log = logging.getLogger(__name__)

LOAD_PAGE = 2000  # subscriptions read, then parsed and indexed in one worker-thread call
UPVOTE_RECHECK = timedelta(days=3)  # HF upvotes keep growing for a few days after listing
# New papers matched per poll per source; the rest stay unseen and come in the next poll. A busy arXiv day
# (cs.LG + cs.CL) is ~1,500 listings, so it takes at most two polls; a feed of 10,000 entries cannot hold the loop.
MAX_NEW_PER_POLL = 2000


def utc_now() -> datetime:
    return datetime.now(UTC)


class LimitReached(Exception):
    """A cap (subscriptions per server, alerts per user) would be exceeded; the message says how to fix it."""


NO_ROOM = (
    "paperbot's matcher has no room for the new words in this query right now. Try a query with words already in "
    "use, or ask the bot's owner to remove unused subscriptions."
)


def _cap_reached(owner: Owner, cap: int) -> LimitReached:
    if owner.scope is Scope.GUILD:
        return LimitReached(
            f"This server already has {cap} subscriptions, the most allowed. "
            "Remove one with `/subscriptions remove` first."
        )
    return LimitReached(f"You already have {cap} alerts, the most allowed. Remove one with `/alerts remove` first.")


def _log_unindexable(subscription_id: int, error: Exception) -> None:
    """Say why a stored subscription is skipped: its query no longer parses, or the index has no room for it."""
    parse = isinstance(error, ValueError)
    why = "has a query that no longer parses; skipping it" if parse else "does not fit the index; it will not match"
    log.error("stored subscription #%d %s", subscription_id, why, exc_info=error if parse else None)


@dataclass(frozen=True, slots=True)
class PollResult:
    source: str
    fetched: int = 0
    new: int = 0
    queued: int = 0  # deliveries planned: outbox rows, and matches kept compact (of them: ``compacted``)
    compacted: int = 0
    error: str | None = None
    skipped: bool = False
    catalogued: bool = False
    health: SourceHealth | None = None  # set when this poll changed the source's health


class Engine(PaperReading):
    """Owns the subscription index and the data path source → store → matcher → outbox."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utc_now,
        limits: LimitsSettings | None = None,
        degraded_after: int = 5,
        max_new_per_poll: int = MAX_NEW_PER_POLL,
    ) -> None:
        self.store = store
        self.max_new_per_poll = max_new_per_poll
        self.clock = clock
        self.limits = limits or LimitsSettings()
        self.degraded_after = degraded_after
        self.planner = DeliveryPlanner()  # the subscription index and delivery planning (bot/planning.py)
        self._recommend_lock = asyncio.Lock()  # one poll at a time reads and spends recommend mode's daily quota
        self.recommender = Recommender(store)
        self._loaded = asyncio.Event()
        self._following = asyncio.Lock()

    async def load(self) -> None:
        """Index every active subscription (at start; may run in the background while the bot connects).

        Subscriptions are read a page at a time and indexed in a worker thread from their stored compiled forms
        (parsed, and the form written back, when there is none or it is stale), so the event loop keeps
        the gateway's heartbeat and answers commands. Parsing 100,000 queries allocates many short-lived objects,
        which would set off many full garbage collections, so collection is paused for the load and what stays is
        then frozen out of the collector's way.
        """
        gc.disable()
        try:
            after = 0
            while page := await self.store.indexing_page(after, LOAD_PAGE):
                async with self.planner.reading():
                    forms = await self.planner.off_loop(self._index_loaded, page)
                await self.store.save_compiled(forms)
                after = page[-1].id
        finally:
            gc.enable()
        gc.freeze()
        self._loaded.set()
        log.info("indexed %d active subscriptions", len(self.index))
        await self.recommender.refresh()

    async def ready(self) -> None:
        """Wait until :meth:`load` has indexed the stored subscriptions."""
        await self._loaded.wait()

    @property
    def index(self) -> SubscriptionIndex:
        """The index of active subscriptions' queries (the planner's)."""
        return self.planner.index

    @index.setter
    def index(self, index: SubscriptionIndex) -> None:
        self.planner.index = index

    def _index(self, sub: Subscription, query: Query | None) -> None:
        """Index one subscription (inside ``planner.changing()``, or in the load's thread); LimitReached (the
        index unchanged) when its words do not fit."""
        try:
            self.planner.add(sub, query)
        except OverflowError:
            raise LimitReached(NO_ROOM) from None

    def _index_stored(self, sub: Subscription) -> None:
        """Index a stored subscription; one that cannot be (no longer parses, no room) is logged and skipped."""
        try:
            self._index(sub, query_of(sub))
        except (ValueError, LimitReached) as error:
            _log_unindexable(sub.id, error)

    def _index_loaded(self, page: Sequence[StoredQuery]) -> list[tuple[int, str]]:
        """Index subscriptions read at start (:meth:`SubscriptionIndex.add_stored`); returns the forms to store."""
        forms = []
        for stored in page:
            if stored.subscription is not None:  # more than its query decides: the whole path
                self._index_stored(stored.subscription)
                continue
            try:
                form = self.index.add_stored(stored.id, stored.query, stored.compiled)
            except (ValueError, OverflowError) as error:
                _log_unindexable(stored.id, error)
                continue
            if form is not None:
                forms.append((stored.id, form))
        return forms

    def _unindex(self, subscription_id: int) -> None:
        self.planner.remove(subscription_id)

    # -- polling --------------------------------------------------------------------------------------

    def plan(
        self, new: Sequence[Paper], recheck: Sequence[Paper] = (), recommend: RecommendPlan | None = None
    ) -> list[DeliveryKey]:
        """(subscription, paper) pairs to deliver, all at once (see :meth:`DeliveryPlanner.plan`)."""
        return self.planner.plan(new, recheck, recommend)

    async def poll(self, source: Source, session: aiohttp.ClientSession) -> PollResult:
        """Fetch one source and store what it lists; new papers are matched and queued atomically.

        A failed fetch marks nothing seen and backs off. The very first successful poll of a source only
        catalogues what is listed, so a fresh install never floods channels with the existing backlog.
        """
        await self.ready()
        now = self.clock()
        state = await self.store.source_state(source.name)
        if state is not None and state.next_attempt_at is not None and now < state.next_attempt_at:
            return PollResult(source.name, skipped=True)  # backing off (remembered across restarts)
        first = state is None or state.last_success_at is None
        try:
            papers = await source.fetch(session, now)
            recommending = self.planner.recommend
            if recommending:
                await self.recommender.ready()  # a poll during the rebuild at start would find no models yet
            async with self._recommend_lock:
                recommend = await self._recommend_plan(papers, now) if recommending and not first else None
                # Matching runs in worker threads, streamed into the outbox: the index must not change meanwhile.
                async with self.planner.reading():
                    result = await self.store.ingest(
                        papers,
                        (lambda new, recheck: ()) if first else self.planner.listing(recommend),
                        now,
                        recheck_since=now - UPVOTE_RECHECK,
                        max_new=None if first else self.max_new_per_poll,
                    )
        except SourceError as exc:
            return await self._poll_failed(source, state, now, redact_text(str(exc)), exc.retry_after)
        except Exception as exc:  # a bug or an input no parser expected: still a failed poll, never a dead job
            error = redact_text(f"unexpected {type(exc).__name__}: {exc}")[:500]
            # The traceback without the exception's own text, which may hold a source URL with a credential.
            log.error("%s poll raised %s\n%s", source.name, error, "".join(traceback.format_tb(exc.__traceback__)))
            return await self._poll_failed(source, state, now, error, None)
        if result.deferred:
            # The rest stay unseen and come in the next poll, which must read the whole listing again.
            source.refetch()
            log.info(
                "%s: %d new papers left for the next poll (at most %d a poll)",
                source.name,
                result.deferred,
                self.max_new_per_poll,
            )
        if result.new_papers:
            await self.recommender.refresh(result.new_papers)
        await self.store.record_source_result(source.name, now, None)
        health = None
        if state is not None and state.degraded:
            await self.store.set_source_degraded(source.name, False)
            health = SourceHealth.RECOVERED
        queued = result.queued + result.compacted
        log.info(
            "%s: %d listed, %d new, %d deliveries queued%s%s",
            source.name,
            len(papers),
            len(result.new_papers),
            queued,
            f" ({result.compacted} kept compact, queued in the background)" if result.compacted else "",
            " (first poll: catalogued only)" if first else "",
        )
        return PollResult(
            source.name,
            len(papers),
            len(result.new_papers),
            queued,
            result.compacted,
            catalogued=first,
            health=health,
        )

    async def _poll_failed(
        self, source: Source, state: SourceState | None, now: datetime, error: str, retry_after: float | None
    ) -> PollResult:
        """Record a failed poll (``error`` already redacted): count it, back off, mark the source degraded."""
        failures = await self.store.record_source_result(source.name, now, error)
        delay = max(backoff_delay(source.poll_interval, failures, jitter=0.2), retry_after or 0)
        await self.store.set_next_attempt(source.name, now + timedelta(seconds=delay))
        log.warning("%s poll failed (%d in a row; next try in %.0fs): %s", source.name, failures, delay, error)
        health = None
        if failures >= self.degraded_after and not (state and state.degraded):
            await self.store.set_source_degraded(source.name, True)
            health = SourceHealth.DEGRADED
        return PollResult(source.name, error=error, health=health)

    async def _recommend_plan(self, papers: Sequence[Paper], now: datetime) -> RecommendPlan:
        """Scores of the fetched papers for every profile (off the event loop) and today's remaining quotas."""
        recommending = self.planner.recommend
        instant = [sub_id for sub_id, sub in recommending.items() if sub.instant]
        queued = await self.store.queued_since(instant, day_start(now))
        remaining = {sub_id: recommending[sub_id].per_day - queued.get(sub_id, 0) for sub_id in instant}
        return RecommendPlan(await self.recommender.score(papers), remaining)

    # -- subscriptions and alerts ---------------------------------------------------------------------

    async def add_subscription(
        self,
        *,
        owner: Owner,
        user_id: int,
        query: Query | None,
        channel_id: int | None = None,
        schedule: Schedule = Schedule.INSTANT,
        min_upvotes: int = 0,
        backfill: int = 0,
        forum: bool = False,
        forum_tags: Sequence[int] = (),
        mention_role_id: int | None = None,
        max_per_day: int = 0,
        mode: Mode = Mode.MATCH,
    ) -> tuple[Subscription, int]:
        """Create a channel subscription (owner = a guild) or a DM alert (owner = a user).

        Queues up to ``backfill`` of the newest stored matches (sent at once, even on a digest schedule).
        Returns the subscription and how many papers were backfilled.
        """
        await self.ready()
        cap = self.limits.subscriptions_per_guild if owner.scope is Scope.GUILD else self.limits.alerts_per_user
        if await self.store.count_subscriptions(owner) >= cap:  # a cheap early answer; the add checks again
            raise _cap_reached(owner, cap)
        backfill_ids = []
        if backfill > 0 and query is not None:
            backfill_ids = [p.id for p in await self.backfill_matches(query, backfill, min_upvotes)]
        is_channel = owner.scope is Scope.GUILD
        indexed: list[int] = []

        def index_new(sub: Subscription) -> None:
            # Indexed inside the store's transaction: if the index has no room, the row is rolled back, so no
            # subscription is ever stored that would silently never match.
            self._index(sub, query)
            indexed.append(sub.id)

        try:
            # The index may not change while a worker thread matches against it: the add waits for that.
            async with self.planner.changing():
                sub = await self.store.add_subscription(
                    scope=owner.scope,
                    user_id=user_id,
                    query=query.text if query is not None else "",
                    now=self.clock(),
                    guild_id=owner.id if is_channel else None,
                    channel_id=channel_id,
                    schedule=schedule,
                    min_upvotes=min_upvotes,
                    backfill=backfill_ids,
                    forum=forum,
                    forum_tags=forum_tags,
                    mention_role_id=mention_role_id,
                    max_per_day=max_per_day,
                    mode=mode,
                    cap=cap,
                    on_created=index_new,
                )
        except BaseException:
            for sub_id in indexed:  # the commit failed after indexing
                self._unindex(sub_id)
            raise
        if sub is None:
            raise _cap_reached(owner, cap)
        return sub, len(backfill_ids)

    async def set_status(
        self, owner: Owner, subscription_id: int, status: SubscriptionStatus, reason: str | None = None
    ) -> Subscription | None:
        """Pause, resume or remove one of this owner's subscriptions; None when not found."""
        await self.ready()
        sub = await self.store.get_subscription(owner, subscription_id)
        if sub is None:
            return None
        changed = False
        async with self.planner.changing():
            if status is SubscriptionStatus.ACTIVE:  # indexed first: a resume with no room in the index changes nothing
                self._index(sub, query_of(sub))
            try:
                changed = await self.store.set_subscription_status(owner, subscription_id, status, reason)
            finally:
                if not changed or status is not SubscriptionStatus.ACTIVE:
                    self._unindex(sub.id)
        return sub if changed else None

    async def follow(self, subscription_id: int) -> None:
        """Index a subscription as the store now has it, after any process changed it; in the order heard of."""
        await self.ready()
        async with self._following:
            page = await self.store.active_subscriptions(after=subscription_id - 1, limit=1)
            async with self.planner.changing():
                self._unindex(subscription_id)
                if page and page[0].id == subscription_id:
                    self._index_stored(page[0])

    def forget_subscriptions(self, subscription_ids: Sequence[int]) -> None:
        """Drop subscriptions the sender paused (the store already records it) from the index."""
        for sub_id in subscription_ids:
            self._unindex(sub_id)
