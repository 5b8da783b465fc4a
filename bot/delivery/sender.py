"""Drain the outbox: group due deliveries per target into messages and post them exactly once.

The transport (Discord in production) is behind a small protocol so this module has no Discord in it.
Exactly-once rests on three things: the (subscription, paper) primary key in the outbox, a nonce
recorded *before* each request (a resend after a crash or timeout reuses it and Discord returns the
existing message), and a per-target check that a paper already posted there is not posted again.
Pacing under the platform's global rate limit is the transport's job, retries included.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.delivery import forum
from bot.delivery.batches import Batch, Papers, attempted_before, fair_order, message_nonce
from bot.delivery.digests import DigestSending, Ranker
from bot.delivery.render import (
    DIGEST_CAP,
    footer_marker,
    pack_messages,
)
from bot.delivery.transport import NONCE_WINDOW, DrainResult, Rejected, RetryLater, TargetGone, Transport
from bot.delivery.volume import OVERFLOW_NOTE, over_daily_cap
from bot.logs import log_context
from bot.models import DeliveryStatus, PendingDelivery, Scope, Target
from bot.pacing import FairSlots, backoff_delay
from bot.sharding import Shards
from bot.store import Store

log = logging.getLogger(__name__)

MAX_PAGES_PER_DRAIN = 20
MIN_DRAINERS = 64  # a page's targets drain this many at once, or twice ``concurrency`` if more
PLANNERS = 8  # targets planning their messages at once (sending is bounded by ``concurrency``)
PER_TARGET_ROWS = 50  # a multiple of 10, so a target's rows fill whole messages
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 600.0
MAX_ATTEMPTS = 12  # with the backoff above: about an hour of trying before a payload is given up on


PausedCallback = Callable[[Target, str, list[int]], None]
OutcomeCallback = Callable[[Target, bool, str, int], None]
"""Told (target, is a digest, outcome: sent/retried/failed/paused, deliveries) after every send, for metrics."""


class Sender(DigestSending):
    """Posts due outbox rows and digests through a transport, recording every outcome in the store."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        clock: Callable[[], datetime],
        on_paused: PausedCallback | None = None,
        digest_cap: int = DIGEST_CAP,
        concurrency: int = 50,
        rank: Ranker | None = None,
        shards: Shards | None = None,
        on_outcome: OutcomeCallback | None = None,
    ) -> None:
        self.store = store
        self.shards = shards  # None: this process runs every shard; else only its guilds' (and maybe DMs') work
        self.transport = transport
        self.clock = clock
        self.on_paused = on_paused
        self.digest_cap = digest_cap
        self.concurrency = concurrency
        self.rank = rank
        self._stopping = False
        self.on_outcome = on_outcome

    def stop(self) -> None:
        """Finish the messages in flight but start no new one (the bot is shutting down)."""
        self._stopping = True

    async def drain(self, limit: int = 5000) -> DrainResult:
        """Send everything due now, ``limit`` rows a page, then any digest whose time has come.

        The targets of a page drain together (:data:`MIN_DRAINERS` or twice ``concurrency`` at once, taken in
        turn), each one message at a time; at most ``concurrency`` messages are in flight, and when more wait,
        servers and users take turns for the next free slot so one large server cannot starve the rest. A slot is
        held for one message, not for a target's whole backlog: a channel waiting out its own rate-limit bucket then
        holds one slot at most, and the others keep the transport's global pace busy. One failing target never
        blocks another.
        """
        result = DrainResult()
        stalled: set[Target] = set()  # paused or backing off during this drain: not retried until the next
        slots = FairSlots(self.concurrency)
        # Targets plan their messages (store reads, rendering) a few at a time, in the page's fair order: thousands
        # planning at once would each take a step of work in the same turn of the event loop, and hold it.
        planning = asyncio.Semaphore(PLANNERS)

        async def drain_target(target: Target, rows: list[PendingDelivery]) -> None:
            with log_context(target=target):
                await drain_rows(target, rows)

        async def drain_turns(turns: deque[tuple[Target, list[PendingDelivery]]]) -> None:
            while turns and not self._stopping:
                await drain_target(*turns.popleft())

        async def drain_rows(target: Target, rows: list[PendingDelivery]) -> None:
            owner = rows[0].owner_id
            while rows:
                async with planning:
                    batches = await self._plan_batches(target, rows, result)
                for batch in batches:
                    if self._stopping:
                        return
                    async with slots.turn(owner):
                        sent = await self._send(batch, result)
                    if not sent:
                        stalled.add(target)
                        return  # this target's remaining batches wait too
                if len(rows) < PER_TARGET_ROWS:
                    return
                # More queued for this target: keep going without waiting for the other targets.
                rows = await self.store.due_deliveries(self.clock(), PER_TARGET_ROWS, PER_TARGET_ROWS, target)

        for _ in range(MAX_PAGES_PER_DRAIN):  # a big backlog drains in one run, page after page
            page = await self.store.due_deliveries(self.clock(), limit, PER_TARGET_ROWS, shards=self.shards)
            by_target: dict[Target, list[PendingDelivery]] = defaultdict(list)
            for row in page:
                if row.target not in stalled:
                    by_target[row.target].append(row)
            turns = deque((t, by_target[t]) for t in fair_order(by_target))
            # A pool of drainers takes the targets in turn, not a task per target: a page may hold thousands of
            # targets, and as many tasks at once (with their coroutines, contexts and futures: ~100,000 objects)
            # made each step of the loop and each garbage collection long enough to stall it for a tenth of a second.
            drainers = max(MIN_DRAINERS, 2 * self.concurrency)
            await asyncio.gather(*(drain_turns(turns) for _ in range(min(len(turns), drainers))))
            if len(page) < limit or not by_target or self._stopping:
                break
        # Each digest from one process: its owner's shard's when processes split the shards (as for instant
        # deliveries), else the leader's. (Both at once kept a non-leader shard's digests from ever being sent.)
        if not self._stopping and (self.shards is not None or await self.store.coordination.is_leader()):
            await self._send_due_digests(result)
        return result

    async def _plan_batches(self, target: Target, rows: list[PendingDelivery], result: DrainResult) -> list[Batch]:
        now = self.clock()
        resumed: dict[str, Papers] = defaultdict(Papers)
        fresh = Papers()
        over = await over_daily_cap(self.store, rows, now)
        if over:
            await self.store.hold_overflow(list(over), OVERFLOW_NOTE, now)
        for row in rows:
            if (row.subscription_id, row.paper.id) in over:
                continue
            if row.nonce is not None:
                resumed[row.nonce].add(row)  # interrupted or failed before: resend that batch, same nonce
                continue
            existing = await self.store.sent_message_for(target, row.paper.id)
            if existing is not None:
                # Another subscription already brought this paper here: never post it twice.
                await self.store.mark_sent([(row.subscription_id, row.paper.id)], existing, now)
                result.delivered += 1
                continue
            fresh.add(row)
        batches = []
        is_forum = bool(rows) and rows[0].forum
        for nonce, group in resumed.items():
            if is_forum:  # no nonce protects a forum post: always look for it first
                await self._settle_from_forum(target, group, result)
            elif attempted_before(group.rows, now - NONCE_WINDOW):
                await self._settle_from_history(target, group, result)
                # Not in the channel: send again, with a new nonce (Discord has forgotten the old one).
                nonce = message_nonce(target.scope, target.id, *sorted(group.papers), "retry", group.attempts)
            if group.papers:
                embeds = await asyncio.to_thread(group.embeds)
                batches.append(group.batch(target, [pid for pid, _ in embeds], [e for _, e in embeds], nonce))
        # Rendered in a worker thread: a page's targets reach this point together, and their embeds (~0.5 ms of
        # Python a paper) rendered on the loop held it for a quarter of a second at a time.
        embeds = await asyncio.to_thread(fresh.embeds)
        paper_of = {id(embed): pid for pid, embed in embeds}
        # A forum gets one post per paper; a channel up to ten papers per message.
        messages = [[e] for _, e in embeds] if is_forum else pack_messages(embed for _, embed in embeds)
        for message in messages:
            ids = [paper_of[id(e)] for e in message]
            batches.append(fresh.batch(target, ids, message, message_nonce(target.scope, target.id, *sorted(ids))))
        return batches

    async def _settle_from_history(self, target: Target, group: Papers, result: DrainResult) -> None:
        """An interrupted send too old for nonce deduplication: if our message with these papers is in the
        channel already (recognised by the paper marker in the embed footer), record it instead of resending."""
        markers = {footer_marker(pid): pid for pid in group.papers}
        try:
            recent = await self.transport.recent_footers(await self._channel_for(target))
        except (TargetGone, RetryLater, Rejected) as exc:
            log.warning("could not read %s's history to check an interrupted send (%s); sending again", target, exc)
            return
        for message_id, footers in recent:
            for footer in footers:
                for marker, pid in markers.items():
                    if footer.endswith(marker) and pid in group.papers:
                        await self.store.mark_sent(group.keys[pid], message_id, self.clock())
                        result.delivered += len(group.keys.pop(pid))
                        del group.papers[pid]

    async def _settle_from_forum(self, target: Target, group: Papers, result: DrainResult) -> None:
        """An interrupted forum post (one paper): if the post exists already, record it instead of posting again.
        When the forum cannot be searched now, the paper waits (retried later) rather than risk a second post."""
        (pid,) = group.papers
        post = forum.paper_post(group.papers[pid], group.rows)
        try:
            found = await forum.find_post(self.transport, target.id, post, footer_marker(pid))
        except TargetGone:
            return  # creating it will fail the same way and pause the target
        except (RetryLater, Rejected) as exc:
            keys = group.keys.pop(pid)
            del group.papers[pid]
            retry_at = self.clock() + timedelta(seconds=RETRY_BASE_SECONDS)
            await self.store.mark_retry(keys, f"could not look for an interrupted forum post: {exc}", retry_at)
            result.retried += len(keys)
            return
        if found is not None:
            keys = group.keys.pop(pid)
            del group.papers[pid]
            await self.store.mark_sent(keys, found, self.clock())
            result.delivered += len(keys)

    async def _channel_for(self, target: Target) -> int:
        if target.scope is Scope.GUILD:
            return target.id
        channel_id = await self.store.dm_channel(target.id)
        if channel_id is None:
            channel_id = await self.transport.open_dm(target.id)
            await self.store.save_dm_channel(target.id, channel_id, self.clock())
        return channel_id

    async def _send(self, batch: Batch, result: DrainResult) -> bool:
        """Send one batch and record the outcome; False when the target should not be tried again now."""
        subscriptions, papers = {s for s, _ in batch.keys}, {p for _, p in batch.keys}
        with log_context(target=batch.target, subscription=subscriptions, paper=papers):
            return await self._send_logged(batch, result)

    async def _send_logged(self, batch: Batch, result: DrainResult) -> bool:
        in_flight = DeliveryStatus.HELD if batch.retry_status is DeliveryStatus.HELD else DeliveryStatus.SENDING
        await self.store.mark_sending(batch.keys, batch.nonce, self.clock(), in_flight)
        attempts = batch.attempts + 1
        try:
            if batch.post is not None:
                post = batch.post
                message_id = await self.transport.create_post(batch.target.id, post.name, batch.outgoing, post.tags)
            else:
                channel_id = await self._channel_for(batch.target)
                message_id = await self.transport.send(channel_id, batch.outgoing, batch.nonce)
        except TargetGone as exc:
            reason = str(exc)
            paused = await self.store.pause_target(batch.target, reason)
            await self.store.mark_retry(batch.keys, reason, self.clock(), batch.retry_status)
            log.warning("%s refuses messages (%s); paused subscriptions %s", batch.target, reason, paused)
            if self.on_paused is not None:
                self.on_paused(batch.target, reason, paused)
            result.paused_targets += 1
            self._report(batch, "paused")
            return False
        except RetryLater as exc:
            if attempts >= MAX_ATTEMPTS:
                await self.store.mark_failed(batch.keys, f"gave up after {attempts} attempts: {exc}")
                log.error("giving up on %d deliveries to %s: %s", len(batch.keys), batch.target, exc)
                result.failed += len(batch.keys)
                self._report(batch, "failed")
                return True
            delay = max(backoff_delay(RETRY_BASE_SECONDS, attempts, RETRY_CAP_SECONDS), exc.retry_after or 0.0)
            await self.store.mark_retry(
                batch.keys, str(exc), self.clock() + timedelta(seconds=delay), batch.retry_status
            )
            log.info("delivery to %s will retry in %.0fs: %s", batch.target, delay, exc)
            result.retried += len(batch.keys)
            self._report(batch, "retried")
            return False
        except Rejected as exc:
            await self.store.mark_failed(batch.keys, str(exc))
            log.error("Discord rejected a message to %s: %s", batch.target, exc)
            result.failed += len(batch.keys)
            self._report(batch, "failed")
            return True
        await self.store.mark_sent(batch.keys, message_id, self.clock())
        log.info("sent message %d to %s: %d deliveries", message_id, batch.target, len(batch.keys))
        result.messages += 1
        result.delivered += len(batch.keys)
        self._report(batch, "sent")
        return True

    def _report(self, batch: Batch, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(batch.target, batch.retry_status is DeliveryStatus.HELD, outcome, len(batch.keys))
