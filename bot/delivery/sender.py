"""Drain the outbox: group due deliveries per channel into messages and post them exactly once.

The transport (Discord in production) is behind a small protocol so this module has no Discord in it.
Exactly-once rests on three things: the (subscription, paper) primary key in the outbox, a nonce
recorded *before* each request (a resend after a crash or timeout reuses it and Discord returns the
existing message), and a per-channel check that a paper already posted there is not posted again.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.delivery.render import Embed, pack_messages, render_paper_embed
from bot.models import Paper, PendingDelivery
from bot.store import DeliveryKey, Store

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 600.0
MAX_ATTEMPTS = 12  # with the backoff above: about an hour of trying before a payload is given up on


class TargetGone(Exception):
    """The target refuses our messages for good (403 missing access, 404 unknown channel)."""


class RetryLater(Exception):
    """A transient failure (429, 5xx, network); ``retry_after`` seconds when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(Exception):
    """The request itself was refused (e.g. 400 invalid form body); resending it would fail again."""


class Transport(Protocol):
    async def send(self, channel_id: int, embeds: Sequence[Embed], nonce: str) -> int:
        """Post one message and return its id; raises TargetGone, RetryLater or Rejected."""
        ...


@dataclass(frozen=True, slots=True)
class DrainResult:
    messages: int = 0
    delivered: int = 0
    paused_channels: int = 0
    retried: int = 0
    failed: int = 0


def message_nonce(channel_id: int, paper_ids: Sequence[str]) -> str:
    """A deterministic nonce (≤ 25 chars) for one message: the same batch always gets the same nonce."""
    digest = hashlib.sha256(f"{channel_id}:{','.join(sorted(paper_ids))}".encode()).hexdigest()
    return "pb" + digest[:23]


def retry_delay(attempts: int, server_hint: float | None = None) -> float:
    """Exponential backoff from the attempt count, never sooner than the server asked."""
    delay = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_CAP_SECONDS)
    return max(delay, server_hint or 0.0)


@dataclass
class _Batch:
    """One message to one channel: the papers in order, and which subscriptions each satisfies."""

    channel_id: int
    papers: dict[str, Paper]
    keys: dict[str, list[DeliveryKey]]
    nonce: str | None = None
    attempts: int = 0

    def all_keys(self) -> list[DeliveryKey]:
        return [k for keys in self.keys.values() for k in keys]


class Sender:
    """Posts due outbox rows through a transport, recording every outcome in the store."""

    def __init__(self, store: Store, transport: Transport, clock: Callable[[], datetime],
                 on_paused: Callable[[int, str, list[int]], None] | None = None) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.on_paused = on_paused

    async def drain(self, limit: int = 500) -> DrainResult:
        """Send everything due now (up to ``limit`` rows); one failing channel never blocks another."""
        due = await self.store.due_deliveries(self.clock(), limit)
        by_channel: dict[int, list[PendingDelivery]] = defaultdict(list)
        for row in due:
            by_channel[row.channel_id].append(row)
        totals: dict[str, int] = defaultdict(int)
        for channel_id, rows in by_channel.items():
            for key, value in (await self._drain_channel(channel_id, rows)).items():
                totals[key] += value
        return DrainResult(**totals)

    async def _drain_channel(self, channel_id: int, rows: list[PendingDelivery]) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        batches = await self._plan_batches(channel_id, rows, counts)
        for batch in batches:
            outcome = await self._send(batch)
            counts[outcome] += len(batch.all_keys()) if outcome in ("delivered", "retried", "failed") else 1
            if outcome == "delivered":
                counts["messages"] += 1
            elif outcome != "failed":
                break  # paused or backing off: the channel's remaining batches wait too
        return counts

    async def _plan_batches(self, channel_id: int, rows: list[PendingDelivery],
                            counts: dict[str, int]) -> list[_Batch]:
        now = self.clock()
        resumed: dict[str, _Batch] = {}
        fresh_papers: dict[str, Paper] = {}
        fresh_keys: dict[str, list[DeliveryKey]] = defaultdict(list)
        attempts = 0
        for row in rows:
            key = (row.subscription_id, row.paper.id)
            if row.nonce is not None:
                # Interrupted or failed before: resend exactly that batch, with its nonce.
                batch = resumed.setdefault(row.nonce, _Batch(channel_id, {}, defaultdict(list), row.nonce))
                batch.papers[row.paper.id] = row.paper
                batch.keys[row.paper.id].append(key)
                batch.attempts = max(batch.attempts, row.attempts)
                continue
            existing = await self.store.sent_message_for(channel_id, row.paper.id)
            if existing is not None:
                # Another subscription already brought this paper here: never post it twice.
                await self.store.mark_sent([key], existing, now)
                counts["delivered"] += 1
                continue
            fresh_papers.setdefault(row.paper.id, row.paper)
            fresh_keys[row.paper.id].append(key)
            attempts = max(attempts, row.attempts)
        batches = list(resumed.values())
        embeds = [(pid, self._embed(paper, fresh_keys[pid])) for pid, paper in fresh_papers.items()]
        by_id = {id(embed): pid for pid, embed in embeds}
        for message in pack_messages(embed for _, embed in embeds):
            ids = [by_id[id(e)] for e in message]
            batches.append(_Batch(channel_id, {i: fresh_papers[i] for i in ids},
                                  {i: fresh_keys[i] for i in ids}, None, attempts))
        return batches

    @staticmethod
    def _embed(paper: Paper, keys: Sequence[DeliveryKey]) -> Embed:
        return render_paper_embed(paper, sorted({sub_id for sub_id, _ in keys}))

    async def _send(self, batch: _Batch) -> str:
        keys = batch.all_keys()
        nonce = batch.nonce or message_nonce(batch.channel_id, list(batch.papers))
        embeds = [self._embed(paper, batch.keys[pid]) for pid, paper in batch.papers.items()]
        await self.store.mark_sending(keys, nonce, self.clock())
        attempts = batch.attempts + 1
        try:
            message_id = await self.transport.send(batch.channel_id, embeds, nonce)
        except TargetGone as exc:
            reason = str(exc)
            paused = await self.store.pause_channel(batch.channel_id, reason)
            await self.store.mark_retry(keys, reason, self.clock())
            log.warning("channel %s refuses messages (%s); paused subscriptions %s",
                        batch.channel_id, reason, paused)
            if self.on_paused is not None:
                self.on_paused(batch.channel_id, reason, paused)
            return "paused_channels"
        except RetryLater as exc:
            if attempts >= MAX_ATTEMPTS:
                await self.store.mark_failed(keys, f"gave up after {attempts} attempts: {exc}")
                log.error("giving up on %d deliveries to channel %s: %s", len(keys), batch.channel_id, exc)
                return "failed"
            delay = retry_delay(attempts, exc.retry_after)
            await self.store.mark_retry(keys, str(exc), self.clock() + timedelta(seconds=delay))
            log.info("delivery to channel %s will retry in %.0fs: %s", batch.channel_id, delay, exc)
            return "retried"
        except Rejected as exc:
            await self.store.mark_failed(keys, str(exc))
            log.error("Discord rejected a message to channel %s: %s", batch.channel_id, exc)
            return "failed"
        await self.store.mark_sent(keys, message_id, self.clock())
        return "delivered"
