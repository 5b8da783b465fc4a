"""The delivery outbox: one row per (subscription, paper), queued at ingest and walked by the sender."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.models import DeliveryKey, DeliveryRecord, DeliveryStatus, PendingDelivery, Scope, Target
from bot.sharding import Shards
from bot.store.connection import AnyDatabase, Connection, Row
from bot.store.dialect import dialect_of
from bot.store.paper_rows import paper_columns, paper_from_row
from bot.store.schema import SCOPE_OF_TARGET_KIND, SUBSCRIPTION_KIND, TARGET_KIND, dt, ts

_PENDING_COLUMNS = (
    "d.subscription_id, d.target_kind, d.target_id, d.attempts, d.nonce, d.attempted_at, "
    "COALESCE(s.guild_id, s.user_id) AS owner_id, s.forum, s.forum_tags, s.mention_role_id, s.max_per_day, "
    + paper_columns("p")
)


def _pending_from_row(row: Row) -> PendingDelivery:
    return PendingDelivery(
        subscription_id=row["subscription_id"],
        target=Target(SCOPE_OF_TARGET_KIND[row["target_kind"]], row["target_id"]),
        attempts=row["attempts"],
        nonce=row["nonce"],
        attempted_at=dt(row["attempted_at"]),
        owner_id=row["owner_id"],
        mention_role_id=row["mention_role_id"],
        max_per_day=row["max_per_day"],
        paper=paper_from_row(row),
        forum=bool(row["forum"]),
        forum_tags=tuple(json.loads(row["forum_tags"])),
    )


async def _pending_off_the_loop(rows: Sequence[Row]) -> list[PendingDelivery]:
    """Rows as deliveries, made in a worker thread: a page of the outbox is up to 5,000 rows (~20 µs each), which
    would hold the event loop for a tenth of a second."""
    return await asyncio.to_thread(lambda: [_pending_from_row(r) for r in rows])


# A subscription's kind as its deliveries' target_kind, in SQL, from the one mapping of each.
_TARGET_KIND_OF_KIND = (
    "CASE kind " + " ".join(f"WHEN '{SUBSCRIPTION_KIND[s]}' THEN '{TARGET_KIND[s]}'" for s in Scope) + " END"
)


# Outbox rows of active subscriptions waiting to be sent, to count.
_WAITING = (
    "SELECT 1 FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
    "WHERE d.status IN ('pending', 'sending') AND s.status = 'active'"
)


# Deliveries are written a chunk of keys per statement: one INSERT … SELECT reading the keys from a single list
# parameter is several times faster than a statement per row. A chunk is small enough that encoding it (one C call,
# which holds the interpreter lock: ~1 ms here) never holds the event loop for long.
QUEUE_CHUNK = 4_000

Matched = Mapping[str, Sequence[int]]
"""Papers (by id) and the subscriptions each goes to: a chunk of deliveries to queue."""


async def queue_deliveries(db: Connection, keys: Sequence[DeliveryKey], now: datetime, hold: bool = True) -> int:
    """Insert deliveries; an existing (subscription, paper) row is left untouched (at most once, ever), and keys
    of subscriptions that no longer exist (or were removed) are skipped.

    A digest subscription's rows are ``held`` for its digest unless ``hold`` is False (backfill goes out now).
    """
    queued = 0
    for start in range(0, len(keys), QUEUE_CHUNK):
        matched: dict[str, list[int]] = {}
        for sub_id, paper_id in keys[start : start + QUEUE_CHUNK]:
            matched.setdefault(paper_id, []).append(sub_id)
        queued += await queue_matched(db, matched, now, hold)
    return queued


async def queue_matched(db: Connection, matched: Matched, now: datetime, hold: bool = True) -> int:
    """Insert the deliveries of each paper in ``matched`` to its subscriptions (see :func:`queue_deliveries`), in
    one statement: the caller keeps it to about :data:`QUEUE_CHUNK` of them."""
    dialect = dialect_of(db)
    before = db.total_changes
    await db.execute(
        f"""INSERT INTO deliveries
               (subscription_id, paper_id, target_kind, target_id, status, created_at, next_attempt_at)
           SELECT s.id, k.paper_id, {_TARGET_KIND_OF_KIND},
                  CASE kind WHEN '{SUBSCRIPTION_KIND[Scope.GUILD]}' THEN channel_id ELSE user_id END,
                  CASE WHEN :hold AND schedule != 'instant' THEN 'held' ELSE 'pending' END, :now, :now
           FROM ({dialect.keys("keys")}) k JOIN subscriptions s ON s.id = k.subscription_id
           WHERE s.status != 'removed' ON CONFLICT DO NOTHING""",
        {"hold": hold, "now": ts(now)} | dialect.key_params("keys", matched),
    )
    return db.total_changes - before


def shard_filter(shards: Shards | None) -> tuple[str, dict[str, int]]:
    """An ``AND …`` on subscriptions ``s`` keeping what this process's shards serve (see bot/sharding.py): guilds
    on its shards, and alerts when it runs shard 0. None (all shards): no filter."""
    if shards is None:
        return "", {}
    params = {f"shard_{i}": i for i in sorted(shards.ids)} | {"shard_count": shards.count}
    ids = ", ".join(f":{name}" for name in params if name != "shard_count")
    dms = " OR s.guild_id IS NULL" if shards.owns_dms else ""
    return f" AND ((s.guild_id >> 22) % :shard_count IN ({ids}){dms})", params


class OutboxQueries:
    """The outbox part of :class:`bot.store.Store`."""

    _db: AnyDatabase

    async def due_deliveries(
        self,
        now: datetime,
        limit: int = 500,
        per_target: int = 50,
        target: Target | None = None,
        shards: Shards | None = None,
    ) -> list[PendingDelivery]:
        """Instant deliveries ready to send for active subscriptions (optionally one target's; only what
        ``shards`` serve), oldest first, at most ``per_target`` rows for any one target so that one target's
        backlog cannot crowd out the others.

        Rows left in ``sending`` by a crash come back with their nonce so the resend is deduplicated. With
        several processes (PostgreSQL) each row returned is claimed by this one: no two processes send it.
        """
        only = "" if target is None else " AND d.target_kind = :target_kind AND d.target_id = :target_id"
        owned, shard_params = shard_filter(shards)
        only += owned
        only += self._db.dialect.claimable("d")  # with several processes: rows no other one is sending
        me = await self._db.coordination.claimer()
        rows = await self._db.fetchall(
            f"""SELECT {_PENDING_COLUMNS} FROM (
                    SELECT d.*, ROW_NUMBER() OVER (
                        PARTITION BY d.target_kind, d.target_id ORDER BY d.created_at, d.paper_id, d.subscription_id
                    ) AS position
                    FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
                    WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= :now AND s.status = 'active'{only}
                ) d
                JOIN subscriptions s ON s.id = d.subscription_id
                JOIN papers p ON p.id = d.paper_id
                WHERE d.position <= :per_target
                ORDER BY d.created_at, p.first_seen_at, d.paper_id, d.subscription_id
                LIMIT :limit""",
            {
                "now": ts(now),
                "target_kind": None if target is None else TARGET_KIND[target.scope],
                "target_id": None if target is None else target.id,
                "per_target": per_target,
                "limit": limit,
                "me": me,
            }
            | shard_params,
        )
        due = await _pending_off_the_loop(rows)
        claimed = await self._db.dialect.claim(self._db, [(d.subscription_id, d.paper.id) for d in due], me)
        return due if claimed is None else [d for d in due if (d.subscription_id, d.paper.id) in claimed]

    async def held_deliveries(self, subscription_id: int) -> list[PendingDelivery]:
        """What a digest subscription has accumulated (including a digest interrupted mid-send)."""
        rows = await self._db.fetchall(
            f"""SELECT {_PENDING_COLUMNS}
                FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN papers p ON p.id = d.paper_id
                WHERE d.subscription_id = :subscription_id AND d.status = 'held'
                ORDER BY p.upvotes DESC, p.first_seen_at DESC, p.id""",
            {"subscription_id": subscription_id},
        )
        return await _pending_off_the_loop(rows)

    async def digest_blocked_until(self, subscription_id: int) -> datetime | None:
        """When a failed digest send may be retried (None: not blocked)."""
        row = await self._db.fetchone(
            "SELECT MAX(next_attempt_at) AS until FROM deliveries "
            "WHERE subscription_id = :subscription_id AND status = 'held'",
            {"subscription_id": subscription_id},
        )
        return dt(row["until"]) if row else None

    async def sent_message_for(self, target: Target, paper_id: str) -> int | None:
        """The message that already carried ``paper_id`` to ``target`` (via any subscription)."""
        row = await self._db.fetchone(
            "SELECT message_id FROM deliveries WHERE target_kind = :target_kind AND target_id = :target_id "
            "AND paper_id = :paper_id AND status = 'sent' LIMIT 1",
            {"target_kind": TARGET_KIND[target.scope], "target_id": target.id, "paper_id": paper_id},
        )
        return None if row is None else row["message_id"]

    async def posted_since(self, subscription_id: int, since: datetime) -> int:
        """How many of a subscription's deliveries went out as instant posts at or after ``since`` (an overflow
        message's papers are not counted)."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM deliveries WHERE subscription_id = :subscription_id AND status = 'sent' "
            "AND sent_at >= :since AND overflow = 0",
            {"subscription_id": subscription_id, "since": ts(since)},
        )
        return int(row["n"]) if row else 0

    async def mark_sending(
        self, keys: Sequence[DeliveryKey], nonce: str, now: datetime, status: DeliveryStatus = DeliveryStatus.SENDING
    ) -> None:
        """Record the nonce *before* the request, so a crash resends with the same one.

        A digest's rows stay ``held`` (with their nonce) while it is sent, so only the digest path resends them.
        """
        await self._update_deliveries(
            keys,
            "status = :status, nonce = :nonce, attempts = attempts + 1, attempted_at = :now",
            {"status": str(status), "nonce": nonce, "now": ts(now)},
        )

    async def mark_sent(self, keys: Sequence[DeliveryKey], message_id: int, now: datetime) -> None:
        """Record that ``keys`` went out in message ``message_id``."""
        await self._update_deliveries(
            keys,
            "status = 'sent', message_id = :message_id, sent_at = :now, last_error = NULL",
            {"message_id": message_id, "now": ts(now)},
        )

    async def mark_retry(
        self,
        keys: Sequence[DeliveryKey],
        error: str,
        retry_at: datetime,
        status: DeliveryStatus = DeliveryStatus.PENDING,
    ) -> None:
        """Back to ``status`` (pending, or held for a digest), keeping the nonce, until ``retry_at``."""
        await self._update_deliveries(
            keys,
            "status = :status, last_error = :error, next_attempt_at = :retry_at",
            {"status": str(status), "error": error, "retry_at": ts(retry_at)},
        )

    async def hold_overflow(self, keys: Sequence[DeliveryKey], note: str, now: datetime) -> None:
        """Hold deliveries beyond a subscription's daily cap for its overflow message."""
        await self._update_deliveries(
            keys,
            "status = 'held', overflow = 1, last_error = :note, next_attempt_at = :now",
            {"note": note, "now": ts(now)},
        )

    async def mark_failed(self, keys: Sequence[DeliveryKey], error: str) -> None:
        """Give up on ``keys``: they are never retried."""
        await self._update_deliveries(keys, "status = 'failed', last_error = :error", {"error": error})

    async def _update_deliveries(
        self, keys: Sequence[DeliveryKey], assignments: str, params: Mapping[str, Any]
    ) -> None:
        async with self._db.transaction() as db:
            await db.executemany(
                f"UPDATE deliveries SET {assignments} "
                "WHERE subscription_id = :subscription_id AND paper_id = :paper_id",
                [{**params, "subscription_id": sub_id, "paper_id": paper_id} for sub_id, paper_id in keys],
            )

    async def delivery_record(self, subscription_id: int, paper_id: str) -> DeliveryRecord | None:
        """The outbox row for one (subscription, paper), with the channel its message went to."""
        row = await self._db.fetchone(
            """SELECT d.status, d.message_id, d.last_error, d.target_kind, d.target_id, dm.channel_id
               FROM deliveries d LEFT JOIN dm_channels dm ON d.target_kind = 'user' AND dm.user_id = d.target_id
               WHERE d.subscription_id = :subscription_id AND d.paper_id = :paper_id""",
            {"subscription_id": subscription_id, "paper_id": paper_id},
        )
        if row is None:
            return None
        channel_id = row["target_id"] if row["target_kind"] == "channel" else row["channel_id"]
        return DeliveryRecord(DeliveryStatus(row["status"]), row["message_id"], row["last_error"], channel_id)

    async def outbox_depth(self) -> int:
        """Instant deliveries waiting to go out for active subscriptions (paused ones wait for resume), and the
        matches still compact (bot/store/matches.py: not yet known per subscription, all counted)."""
        row = await self._db.fetchone(
            f"SELECT (SELECT COUNT(*) FROM ({_WAITING}) waiting) + "
            "(SELECT COALESCE(SUM(total - expanded), 0) FROM paper_matches) AS n"
        )
        return int(row["n"]) if row else 0

    async def waiting_rows(self, most: int) -> int:
        """The outbox rows :meth:`outbox_depth` counts, up to ``most`` (what the background expansion keeps
        bounded)."""
        row = await self._db.fetchone(f"SELECT COUNT(*) AS n FROM ({_WAITING} LIMIT :most) waiting", {"most": most})
        return int(row["n"]) if row else 0
