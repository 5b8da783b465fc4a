"""Drain the outbox: group due deliveries per target into messages and post them exactly once.

The transport (Discord in production) is behind a small protocol so this module has no Discord in it.
Exactly-once rests on three things: the (subscription, paper) primary key in the outbox, a nonce
recorded *before* each request (a resend after a crash or timeout reuses it and Discord returns the
existing message), and a per-target check that a paper already posted there is not posted again.
Pacing under the platform's global rate limit is the transport's job, retries included.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.delivery.render import (
    DIGEST_CAP,
    Embed,
    digest_marker,
    footer_marker,
    pack_messages,
    render_digest,
    render_paper_embed,
)
from bot.delivery.schedule import latest_due
from bot.models import DeliveryKey, DeliveryStatus, Paper, PendingDelivery, Scope, Subscription, Target
from bot.pacing import FairSlots, backoff_delay
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


class Transport(Protocol):
    """Where messages go. Implementations pace their own requests under the platform's global limit."""

    async def send(self, channel_id: int, embeds: Sequence[Embed], nonce: str) -> int:
        """Post one message and return its id; raises TargetGone, RetryLater or Rejected."""
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


def _attempted_before(rows: Sequence[PendingDelivery], moment: datetime) -> bool:
    last = max((r.attempted_at for r in rows if r.attempted_at is not None), default=None)
    return last is not None and last < moment


def _fair_order(by_target: dict[Target, list[PendingDelivery]]) -> list[Target]:
    """Targets interleaved across owners (servers, users): A1, B1, C1, A2, B2, ... rather than A1..A500, B1."""
    by_owner: dict[int, list[Target]] = defaultdict(list)
    for target, rows in by_target.items():
        by_owner[rows[0].owner_id].append(target)
    queues = list(by_owner.values())
    order: list[Target] = []
    for turn in range(max((len(q) for q in queues), default=0)):
        order.extend(q[turn] for q in queues if turn < len(q))
    return order


def message_nonce(*parts: object) -> str:
    """A deterministic nonce (≤ 25 chars): the same batch always gets the same nonce."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return "pb" + digest[:23]


@dataclass
class _Batch:
    """One message to one target: embeds, and the deliveries the message completes."""

    target: Target
    embeds: list[Embed]
    keys: list[DeliveryKey]
    nonce: str
    attempts: int = 0
    retry_status: DeliveryStatus = DeliveryStatus.PENDING


@dataclass
class _Papers:
    """Papers bound for one target, in order, with the subscriptions each one satisfies."""

    papers: dict[str, Paper] = field(default_factory=dict)
    keys: dict[str, list[DeliveryKey]] = field(default_factory=lambda: defaultdict(list))
    rows: list[PendingDelivery] = field(default_factory=list)

    def add(self, row: PendingDelivery) -> None:
        self.papers.setdefault(row.paper.id, row.paper)
        self.keys[row.paper.id].append((row.subscription_id, row.paper.id))
        self.rows.append(row)

    @property
    def attempts(self) -> int:
        return max((r.attempts for r in self.rows), default=0)

    def embeds(self) -> list[tuple[str, Embed]]:
        return [(pid, render_paper_embed(p, sorted({s for s, _ in self.keys[pid]}))) for pid, p in self.papers.items()]


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
        on_outcome: OutcomeCallback | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.on_paused = on_paused
        self.digest_cap = digest_cap
        self.concurrency = concurrency
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
            page = await self.store.due_deliveries(self.clock(), limit, PER_TARGET_ROWS)
            by_target: dict[Target, list[PendingDelivery]] = defaultdict(list)
            for row in page:
                if row.target not in stalled:
                    by_target[row.target].append(row)
            await asyncio.gather(*(drain_target(t, by_target[t]) for t in _fair_order(by_target)))
            if len(page) < limit or not by_target or self._stopping:
                break
        if not self._stopping:
            await self._send_due_digests(result)
        return result

    async def _plan_batches(self, target: Target, rows: list[PendingDelivery], result: DrainResult) -> list[_Batch]:
        now = self.clock()
        resumed: dict[str, _Papers] = defaultdict(_Papers)
        fresh = _Papers()
        for row in rows:
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
        for nonce, group in resumed.items():
            if _attempted_before(group.rows, now - NONCE_WINDOW):
                await self._settle_from_history(target, group, result)
                # Not in the channel: send again, with a new nonce (Discord has forgotten the old one).
                nonce = message_nonce(target.scope, target.id, *sorted(group.papers), "retry", group.attempts)
            if group.papers:
                batches.append(
                    _Batch(
                        target,
                        [e for _, e in group.embeds()],
                        [k for ks in group.keys.values() for k in ks],
                        nonce,
                        group.attempts,
                    )
                )
        embeds = fresh.embeds()
        paper_of = {id(embed): pid for pid, embed in embeds}
        for message in pack_messages(embed for _, embed in embeds):
            ids = [paper_of[id(e)] for e in message]
            keys = [k for pid in ids for k in fresh.keys[pid]]
            batches.append(
                _Batch(target, message, keys, message_nonce(target.scope, target.id, *sorted(ids)), fresh.attempts)
            )
        return batches

    async def _settle_from_history(self, target: Target, group: _Papers, result: DrainResult) -> None:
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

    async def _channel_for(self, target: Target) -> int:
        if target.scope is Scope.GUILD:
            return target.id
        channel_id = await self.store.dm_channel(target.id)
        if channel_id is None:
            channel_id = await self.transport.open_dm(target.id)
            await self.store.save_dm_channel(target.id, channel_id, self.clock())
        return channel_id

    async def _send(self, batch: _Batch, result: DrainResult) -> bool:
        """Send one batch and record the outcome; False when the target should not be tried again now."""
        in_flight = DeliveryStatus.HELD if batch.retry_status is DeliveryStatus.HELD else DeliveryStatus.SENDING
        await self.store.mark_sending(batch.keys, batch.nonce, self.clock(), in_flight)
        attempts = batch.attempts + 1
        try:
            channel_id = await self._channel_for(batch.target)
            message_id = await self.transport.send(channel_id, batch.embeds, batch.nonce)
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
        result.messages += 1
        result.delivered += len(batch.keys)
        self._report(batch, "sent")
        return True

    def _report(self, batch: _Batch, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(batch.target, batch.retry_status is DeliveryStatus.HELD, outcome, len(batch.keys))

    # -- digests --------------------------------------------------------------------------------------

    async def _send_due_digests(self, result: DrainResult) -> None:
        now = self.clock()
        for sub in await self.store.digest_subscriptions():
            period_start = sub.last_digest_at or sub.created_at
            due = latest_due(period_start, now, sub.schedule, await self.store.digest_settings(sub.owner))
            if due is None:
                continue
            blocked_until = await self.store.digest_blocked_until(sub.id)
            if blocked_until is not None and blocked_until > now:
                continue
            held = await self.store.held_deliveries(sub.id)
            interrupted = [row for row in held if row.nonce is not None]
            rows = interrupted or held  # a digest cut short by a crash is resent as it was, same nonce
            nonce = interrupted[0].nonce if interrupted else message_nonce("digest", sub.id, due.isoformat())
            assert nonce is not None
            if interrupted and _attempted_before(interrupted, now - NONCE_WINDOW):
                if await self._digest_already_posted(sub, rows, nonce, result):
                    await self.store.set_last_digest(sub.id, due)
                    continue
                nonce = message_nonce("digest", sub.id, due.isoformat(), "retry", max(r.attempts for r in rows))
            if rows:
                failed_before = result.failed
                if not await self._send(self._digest_batch(sub, rows, period_start, due, nonce), result):
                    continue  # paused or backing off: the same period is retried later
                result.digests += result.failed == failed_before
            await self.store.set_last_digest(sub.id, due)

    async def _digest_already_posted(
        self, sub: Subscription, rows: list[PendingDelivery], nonce: str, result: DrainResult
    ) -> bool:
        """Is the interrupted digest (recognised by its footer reference) in the channel already?"""
        marker = digest_marker(nonce)
        try:
            recent = await self.transport.recent_footers(await self._channel_for(sub.target))
        except (TargetGone, RetryLater, Rejected) as exc:
            log.warning("could not read %s's history to check an interrupted digest (%s)", sub.target, exc)
            return False
        for message_id, footers in recent:
            if any(footer.endswith(marker) for footer in footers):
                keys = [(r.subscription_id, r.paper.id) for r in rows]
                await self.store.mark_sent(keys, message_id, self.clock())
                result.delivered += len(keys)
                return True
        return False

    def _digest_batch(
        self, sub: Subscription, rows: list[PendingDelivery], start: datetime, end: datetime, nonce: str
    ) -> _Batch:
        embeds = render_digest(sub, [r.paper for r in rows], start, end, cap=self.digest_cap, nonce=nonce)
        keys = [(r.subscription_id, r.paper.id) for r in rows]
        return _Batch(sub.target, embeds, keys, nonce, max(r.attempts for r in rows), DeliveryStatus.HELD)
