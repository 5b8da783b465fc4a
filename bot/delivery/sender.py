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
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.delivery import forum
from bot.delivery.batches import Batch, Papers, attempted_before, fair_order, message_nonce
from bot.delivery.controls import Component, paper_controls
from bot.delivery.forum import ForumTransport
from bot.delivery.render import (
    DIGEST_CAP,
    Embed,
    digest_marker,
    footer_marker,
    pack_messages,
    render_digest,
)
from bot.delivery.schedule import latest_due
from bot.delivery.volume import OVERFLOW_NOTE, not_yet_posted, over_daily_cap
from bot.logs import log_context
from bot.models import DeliveryStatus, Paper, PendingDelivery, Schedule, Scope, Subscription, Target
from bot.pacing import FairSlots, backoff_delay
from bot.sharding import Shards
from bot.store import Store

log = logging.getLogger(__name__)

# Discord returns the existing message for a repeated nonce only for "a few minutes"; past this age an
# interrupted send is looked for in the channel's history before it is sent again.
NONCE_WINDOW = timedelta(minutes=2)
MAX_PAGES_PER_DRAIN = 20
PER_TARGET_ROWS = 50  # a multiple of 10, so a target's rows fill whole messages
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 600.0
MAX_ATTEMPTS = 12  # with the backoff above: about an hour of trying before a payload is given up on


class TargetGone(Exception):
    """The target refuses our messages for good (403 missing access, 404 unknown channel, DMs closed)."""


class RetryLater(Exception):
    """A transient failure (429, 5xx, network); ``retry_after`` seconds when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(Exception):
    """The request itself was refused (e.g. 400 invalid form body); resending it would fail again."""


class Transport(ForumTransport, Protocol):
    """Where messages go. Implementations pace their own requests under the platform's global limit."""

    async def send(
        self,
        channel_id: int,
        embeds: Sequence[Embed],
        nonce: str,
        components: Sequence[Component] = (),
        mention_roles: Sequence[int] = (),
    ) -> int:
        """Post one message (with its paper controls, pinging exactly ``mention_roles``) and return its id; raises
        TargetGone, RetryLater or
        Rejected."""
        ...

    async def open_dm(self, user_id: int) -> int:
        """Open (or fetch) the DM channel with a user; raises TargetGone, RetryLater or Rejected."""
        ...

    async def recent_footers(self, channel_id: int, limit: int = 100) -> list[tuple[int, list[str]]]:
        """(message id, embed footer texts) of our own recent messages in a channel, newest first."""
        ...


PausedCallback = Callable[[Target, str, list[int]], None]
OutcomeCallback = Callable[[Target, bool, str, int], None]
"""Told (target, is a digest, outcome: sent/retried/failed/paused, deliveries) after every send, for metrics."""


@dataclass
class DrainResult:
    """What one drain did: the bot logs it after each run."""

    messages: int = 0
    delivered: int = 0
    paused_targets: int = 0
    retried: int = 0
    failed: int = 0
    digests: int = 0


Ranker = Callable[[Target, Sequence[Paper]], "list[Paper] | None"]
"""Orders a digest's papers for its target, best first; None keeps the store's order (upvotes, then recency)."""


class Sender:
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

        Every target of a page drains at once, one message at a time; at most ``concurrency`` messages are
        in flight, and when more wait, servers and users take turns for the next free slot so one large
        server cannot starve the rest. A slot is held for one message, not for a target's whole backlog: a
        channel waiting out its own rate-limit bucket then holds one slot at most, and the others keep the
        transport's global pace busy. One failing target never blocks another.
        """
        result = DrainResult()
        stalled: set[Target] = set()  # paused or backing off during this drain: not retried until the next
        slots = FairSlots(self.concurrency)

        async def drain_target(target: Target, rows: list[PendingDelivery]) -> None:
            with log_context(target=target):
                await drain_rows(target, rows)

        async def drain_rows(target: Target, rows: list[PendingDelivery]) -> None:
            owner = rows[0].owner_id
            while rows:
                for batch in await self._plan_batches(target, rows, result):
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
            await asyncio.gather(*(drain_target(t, by_target[t]) for t in fair_order(by_target)))
            if len(page) < limit or not by_target or self._stopping:
                break
        if not self._stopping and await self.store.coordination.is_leader():  # in a cluster, the leader sends digests
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
                embeds = group.embeds()
                batches.append(group.batch(target, [pid for pid, _ in embeds], [e for _, e in embeds], nonce))
        embeds = fresh.embeds()
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
                message_id = await self.transport.create_post(
                    batch.target.id, post.name, batch.embeds, batch.components, post.tags, batch.mention_roles
                )
            else:
                channel_id = await self._channel_for(batch.target)
                message_id = await self.transport.send(
                    channel_id, batch.embeds, batch.nonce, batch.components, batch.mention_roles
                )
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

    # -- digests --------------------------------------------------------------------------------------

    async def _send_due_digests(self, result: DrainResult) -> None:
        for sub in await self.store.digest_subscriptions():
            if self.shards is not None and not self.shards.owns(sub.scope, sub.owner.id):
                continue  # another process's guild (or the DMs' process)
            with log_context(subscription=sub.id, target=sub.target):
                await self._send_digest_if_due(sub, result)

    async def _send_digest_if_due(self, sub: Subscription, result: DrainResult) -> None:
        now = self.clock()
        period_start = sub.last_digest_at or sub.created_at
        settings = await self.store.digest_settings(sub.owner)
        # An instant subscription with max_per_day sends its overflow at the owner's daily digest time.
        schedule = Schedule.DAILY if sub.schedule is Schedule.INSTANT else sub.schedule
        due = latest_due(period_start, now, schedule, settings)
        if due is None:
            return
        local_end = due.astimezone(ZoneInfo(settings.timezone))
        blocked_until = await self.store.digest_blocked_until(sub.id)
        if blocked_until is not None and blocked_until > now:
            return
        held = await self.store.held_deliveries(sub.id)
        if sub.schedule is Schedule.INSTANT:
            held = await not_yet_posted(self.store, sub.target, held, now)
        interrupted = [row for row in held if row.nonce is not None]
        rows = interrupted or held  # a digest cut short by a crash is resent as it was, same nonce
        nonce = interrupted[0].nonce if interrupted else message_nonce("digest", sub.id, due.isoformat())
        assert nonce is not None
        if interrupted and (sub.forum or attempted_before(interrupted, now - NONCE_WINDOW)):
            posted = await self._digest_already_posted(sub, rows, nonce, local_end, result)
            if posted:
                await self.store.set_last_digest(sub.id, due)
                return
            if posted is None and sub.forum:
                return  # the forum could not be searched: posting now might post it twice
            nonce = message_nonce("digest", sub.id, due.isoformat(), "retry", max(r.attempts for r in rows))
        if rows:
            failed_before = result.failed
            if not await self._send(self._digest_batch(sub, rows, period_start, local_end, nonce), result):
                return  # paused or backing off: the same period is retried later
            result.digests += result.failed == failed_before
        await self.store.set_last_digest(sub.id, due)

    async def _digest_already_posted(
        self, sub: Subscription, rows: list[PendingDelivery], nonce: str, end: datetime, result: DrainResult
    ) -> bool | None:
        """Is the interrupted digest (recognised by its footer reference) in the channel (or forum) already?
        None: it could not be checked."""
        marker = digest_marker(nonce)
        try:
            if sub.forum:
                post = forum.digest_post(sub, len(rows), end)
                found = await forum.find_post(self.transport, sub.target.id, post, marker)
                recent = [] if found is None else [(found, [marker])]
            else:
                recent = await self.transport.recent_footers(await self._channel_for(sub.target))
        except (TargetGone, RetryLater, Rejected) as exc:
            log.warning("could not read %s's history to check an interrupted digest (%s)", sub.target, exc)
            return None
        for message_id, footers in recent:
            if any(footer.endswith(marker) for footer in footers):
                keys = [(r.subscription_id, r.paper.id) for r in rows]
                await self.store.mark_sent(keys, message_id, self.clock())
                result.delivered += len(keys)
                return True
        return False

    def _digest_batch(
        self, sub: Subscription, rows: list[PendingDelivery], start: datetime, end: datetime, nonce: str
    ) -> Batch:
        ranked = self.rank(sub.target, [r.paper for r in rows]) if self.rank is not None else None
        if ranked is not None:  # the target's learned profile orders its digests, best first
            position = {paper.id: i for i, paper in enumerate(ranked)}
            rows = sorted(rows, key=lambda r: position[r.paper.id])
        embeds = render_digest(sub, [r.paper for r in rows], start, end, cap=self.digest_cap, nonce=nonce)
        keys = [(r.subscription_id, r.paper.id) for r in rows]
        post = forum.digest_post(sub, len(rows), end) if sub.forum else None
        controls = paper_controls([r.paper for r in rows[: self.digest_cap]])
        attempts = max(r.attempts for r in rows)
        roles = (sub.mention_role_id,) if sub.mention_role_id is not None else ()
        return Batch(sub.target, embeds, keys, nonce, attempts, DeliveryStatus.HELD, controls, post, roles)
