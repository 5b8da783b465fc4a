"""Digests: the held deliveries of a daily or weekly subscription (and a capped instant one's overflow) sent as one
message at the owner's digest time, once, in the order the target's learned profile ranks them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.delivery import forum
from bot.delivery.batches import Batch, attempted_before, message_nonce
from bot.delivery.controls import paper_controls
from bot.delivery.render import digest_marker, render_digest
from bot.delivery.schedule import latest_due
from bot.delivery.transport import NONCE_WINDOW, DrainResult, Rejected, RetryLater, TargetGone, Transport
from bot.delivery.volume import not_yet_posted
from bot.logs import log_context
from bot.models import DeliveryStatus, Paper, PendingDelivery, Schedule, Subscription, Target
from bot.sharding import Shards
from bot.store import Store

log = logging.getLogger(__name__)

Ranker = Callable[[Target, Sequence[Paper]], "list[Paper] | None"]
"""Orders a digest's papers for its target, best first; None keeps the store's order (upvotes, then recency)."""


class DigestSending:
    """The digest part of :class:`bot.delivery.sender.Sender`, which provides what is declared here."""

    store: Store
    transport: Transport
    clock: Callable[[], datetime]
    shards: Shards | None
    rank: Ranker | None
    digest_cap: int

    async def _send(self, batch: Batch, result: DrainResult) -> bool:
        raise NotImplementedError

    async def _channel_for(self, target: Target) -> int:
        raise NotImplementedError

    async def _send_due_digests(self, result: DrainResult) -> None:
        due: list[tuple[Subscription, datetime, datetime]] = []
        for sub in await self.store.digest_subscriptions():
            if self.shards is not None and not self.shards.owns(sub.scope, sub.owner.id):
                continue  # another process's guild (or the DMs' process)
            times = await self._digest_due(sub)
            if times is not None:
                due.append((sub, *times))
        if due:
            # A digest holds every paper matched before it was due: matches still compact are queued first.
            await self.store.expand_matches_for([sub.id for sub, _, _ in due])
        for sub, when, local_end in due:
            with log_context(subscription=sub.id, target=sub.target):
                await self._send_digest(sub, when, local_end, result)

    async def _digest_due(self, sub: Subscription) -> tuple[datetime, datetime] | None:
        """When the digest now due was due (and that time in the owner's timezone); None: none is due, or a
        failed send is waiting to be retried."""
        now = self.clock()
        settings = await self.store.digest_settings(sub.owner)
        # An instant subscription with max_per_day sends its overflow at the owner's daily digest time.
        schedule = Schedule.DAILY if sub.schedule is Schedule.INSTANT else sub.schedule
        due = latest_due(sub.last_digest_at or sub.created_at, now, schedule, settings)
        if due is None:
            return None
        blocked_until = await self.store.digest_blocked_until(sub.id)
        if blocked_until is not None and blocked_until > now:
            return None
        return due, due.astimezone(ZoneInfo(settings.timezone))

    async def _send_digest(self, sub: Subscription, due: datetime, local_end: datetime, result: DrainResult) -> None:
        now = self.clock()
        period_start = sub.last_digest_at or sub.created_at
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
