"""Volume control (``max_per_day``): which deliveries would exceed their subscription's daily cap on instant posts.

"Per day" is the owner's local day in their digest timezone (a server's for ``/subscriptions``, a user's for
``/alerts``). Within a day the most upvoted papers go first; the rest wait in the outbox (``held``) for the
overflow message the sender sends at the owner's daily digest time, exactly once, like a digest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from bot.delivery.schedule import day_start
from bot.models import DeliveryKey, Owner, PendingDelivery, Target
from bot.store import Store

OVERFLOW_NOTE = "over today's max_per_day; listed in the overflow message at the digest time"


async def over_daily_cap(store: Store, rows: Sequence[PendingDelivery], now: datetime) -> set[DeliveryKey]:
    """The deliveries among ``rows`` (not yet attempted) beyond their subscription's ``max_per_day`` today,
    keeping the most upvoted."""
    by_subscription: dict[int, list[PendingDelivery]] = defaultdict(list)
    for row in rows:
        if row.max_per_day > 0 and row.nonce is None:
            by_subscription[row.subscription_id].append(row)
    over: set[DeliveryKey] = set()
    for sub_id, sub_rows in by_subscription.items():
        first = sub_rows[0]
        settings = await store.digest_settings(Owner(first.target.scope, first.owner_id))
        room = first.max_per_day - await store.posted_since(sub_id, day_start(now, settings))
        ranked = sorted(sub_rows, key=lambda r: (-r.paper.upvotes, r.paper.id))
        over.update((r.subscription_id, r.paper.id) for r in ranked[max(room, 0) :])
    return over


async def not_yet_posted(
    store: Store, target: Target, rows: Sequence[PendingDelivery], now: datetime
) -> list[PendingDelivery]:
    """The overflow rows whose paper has not reached ``target`` meanwhile; a paper another subscription brought
    there is recorded as delivered in that message instead of being listed again."""
    waiting = []
    for row in rows:
        existing = await store.sent_message_for(target, row.paper.id)
        if existing is None:
            waiting.append(row)
        else:
            await store.mark_sent([(row.subscription_id, row.paper.id)], existing, now)
    return waiting
