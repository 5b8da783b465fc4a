"""The SQLite store: the only module that speaks SQL.

One writer connection guarded by an ``asyncio.Lock`` with explicit ``BEGIN IMMEDIATE`` transactions
(aiosqlite would otherwise interleave another task's statements into ours), and one reader connection;
WAL lets the reader run while the writer commits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.models import (
    DeliveryStatus,
    Paper,
    PendingDelivery,
    Subscription,
    SubscriptionStatus,
)
from bot.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

DeliveryKey = tuple[int, str]
"""(subscription id, paper id): the identity of one delivery."""

Planner = Callable[[Sequence[Paper]], Iterable[DeliveryKey]]
"""Given newly seen papers, the (subscription, paper) pairs that should be delivered."""

_PAPER_COLUMNS = (
    "id, title, abstract, authors, categories, source, url, pdf_url, code_url, project_url, "
    "thumbnail_url, upvotes, ai_summary, ai_keywords, published_at, first_seen_at"
)
_SUBSCRIPTION_COLUMNS = (
    "s.id, s.guild_id, s.channel_id, s.query, s.created_by, s.created_at, s.status, s.pause_reason, "
    "(SELECT COUNT(*) FROM deliveries d WHERE d.subscription_id = s.id AND d.status = 'sent')"
)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _paper_params(paper: Paper, now: datetime) -> tuple[Any, ...]:
    return (
        paper.id, paper.title, paper.abstract, json.dumps(paper.authors), json.dumps(paper.categories),
        paper.source, paper.url, paper.pdf_url, paper.code_url, paper.project_url, paper.thumbnail_url,
        paper.upvotes, paper.ai_summary, json.dumps(paper.ai_keywords), _ts(paper.published_at),
        _ts(paper.first_seen_at or now), _ts(now),
    )


def _paper_from_row(row: Sequence[Any]) -> Paper:
    return Paper(
        id=row[0], title=row[1], abstract=row[2], authors=tuple(json.loads(row[3])),
        categories=tuple(json.loads(row[4])), source=row[5], url=row[6], pdf_url=row[7], code_url=row[8],
        project_url=row[9], thumbnail_url=row[10], upvotes=row[11], ai_summary=row[12],
        ai_keywords=tuple(json.loads(row[13])), published_at=_dt(row[14]), first_seen_at=_dt(row[15]),
    )


def _subscription_from_row(row: Sequence[Any]) -> Subscription:
    return Subscription(
        id=row[0], guild_id=row[1], channel_id=row[2], query=row[3], created_by=row[4],
        created_at=_dt(row[5]) or datetime.min.replace(tzinfo=UTC), status=SubscriptionStatus(row[6]),
        pause_reason=row[7], delivered_count=row[8],
    )


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch of fetched papers changed."""

    new_papers: tuple[Paper, ...]
    updated: int
    queued: int


@dataclass(frozen=True, slots=True)
class SourceState:
    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None


class Store:
    """Async access to paperbot's SQLite database. Create with :meth:`open`."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: str) -> None:
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: str) -> Store:
        """Open (creating if needed) the database at ``path`` and apply pending migrations."""
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=FULL")  # delivery state must survive a power cut
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute("PRAGMA busy_timeout=5000")
            await _migrate(writer)
            reader = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        await reader.execute("PRAGMA busy_timeout=5000")
        return cls(writer, reader, path)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def schema_version(self) -> int:
        return await _user_version(self._reader)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._reader.execute(sql, params) as cursor:
            return await cursor.fetchone()

    # -- papers ---------------------------------------------------------------------------------------

    async def ingest(self, papers: Sequence[Paper], plan: Planner, now: datetime) -> IngestResult:
        """Store ``papers`` and queue deliveries for the newly seen ones, in one transaction.

        Papers already stored keep their ``first_seen_at`` and are never re-planned (a new version or a
        second source updates metadata only). ``plan`` is called with the new papers inside the
        transaction, so a crash can never store a paper without its deliveries.
        """
        unique = list({p.id: p for p in papers}.values())
        async with self._transaction() as db:
            known: set[str] = set()
            ids = [p.id for p in unique]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                async with db.execute(f"SELECT id FROM papers WHERE id IN ({marks})", chunk) as cursor:
                    known.update(row[0] for row in await cursor.fetchall())
            new = tuple(replace(p, first_seen_at=now) for p in unique if p.id not in known)
            await db.executemany(
                f"INSERT INTO papers ({_PAPER_COLUMNS}, updated_at) VALUES ({','.join('?' * 17)})",
                [_paper_params(p, now) for p in new],
            )
            updated = [p for p in unique if p.id in known]
            await db.executemany(
                """UPDATE papers SET title = ?, abstract = ?,
                       authors = CASE WHEN ? = '[]' THEN authors ELSE ? END,
                       categories = CASE WHEN ? = '[]' THEN categories ELSE ? END,
                       url = COALESCE(NULLIF(url, ''), ?), pdf_url = COALESCE(?, pdf_url),
                       code_url = COALESCE(?, code_url), project_url = COALESCE(?, project_url),
                       thumbnail_url = COALESCE(?, thumbnail_url), upvotes = MAX(upvotes, ?),
                       ai_summary = COALESCE(?, ai_summary),
                       ai_keywords = CASE WHEN ? = '[]' THEN ai_keywords ELSE ? END, updated_at = ?
                   WHERE id = ?""",
                [
                    (
                        p.title, p.abstract, json.dumps(p.authors), json.dumps(p.authors),
                        json.dumps(p.categories), json.dumps(p.categories), p.url, p.pdf_url, p.code_url,
                        p.project_url, p.thumbnail_url, p.upvotes, p.ai_summary,
                        json.dumps(p.ai_keywords), json.dumps(p.ai_keywords), _ts(now), p.id,
                    )
                    for p in updated
                ],
            )
            queued = await _queue(db, list(plan(new)) if new else [], now)
        return IngestResult(new_papers=new, updated=len(updated), queued=queued)

    async def get_paper(self, paper_id: str) -> Paper | None:
        row = await self._fetchone(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id = ?", (paper_id,))
        return None if row is None else _paper_from_row(row)

    async def papers_seen_since(self, since: datetime, limit: int = 5000) -> list[Paper]:
        """Papers first seen at or after ``since``, newest first."""
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE first_seen_at >= ? "
            "ORDER BY first_seen_at DESC, id DESC LIMIT ?",
            (_ts(since), limit),
        )
        return [_paper_from_row(r) for r in rows]

    async def count_papers(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM papers")
        return int(row[0])

    # -- subscriptions --------------------------------------------------------------------------------

    async def add_subscription(
        self,
        *,
        guild_id: int,
        channel_id: int,
        query: str,
        created_by: int,
        now: datetime,
        backfill: Sequence[str] = (),
    ) -> Subscription:
        """Create a subscription and queue ``backfill`` paper ids for it, atomically."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO subscriptions (guild_id, channel_id, query, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (guild_id, channel_id, query, created_by, _ts(now)),
            )
            sub_id = cursor.lastrowid
            assert sub_id is not None
            await _queue(db, [(sub_id, paper_id) for paper_id in backfill], now)
        return Subscription(
            id=sub_id, guild_id=guild_id, channel_id=channel_id, query=query, created_by=created_by,
            created_at=now,
        )

    async def count_subscriptions(self, guild_id: int) -> int:
        row = await self._fetchone(
            "SELECT COUNT(*) FROM subscriptions WHERE guild_id = ? AND status != 'removed'", (guild_id,)
        )
        return int(row[0])

    async def list_subscriptions(self, guild_id: int, channel_id: int | None = None) -> list[Subscription]:
        """This guild's subscriptions (optionally one channel's), oldest first."""
        sql = f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.guild_id = ? AND s.status != 'removed'"
        params: list[Any] = [guild_id]
        if channel_id is not None:
            sql += " AND s.channel_id = ?"
            params.append(channel_id)
        rows = await self._fetchall(sql + " ORDER BY s.id", params)
        return [_subscription_from_row(r) for r in rows]

    async def get_subscription(self, guild_id: int, subscription_id: int) -> Subscription | None:
        """A subscription of *this* guild; another guild's id reads as not found."""
        row = await self._fetchone(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s "
            "WHERE s.id = ? AND s.guild_id = ? AND s.status != 'removed'",
            (subscription_id, guild_id),
        )
        return None if row is None else _subscription_from_row(row)

    async def active_subscriptions(self) -> list[Subscription]:
        rows = await self._fetchall(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.status = 'active' ORDER BY s.id"
        )
        return [_subscription_from_row(r) for r in rows]

    async def set_subscription_status(
        self, guild_id: int, subscription_id: int, status: SubscriptionStatus | str, reason: str | None = None
    ) -> bool:
        """Pause, resume or remove one of this guild's subscriptions; False when it is not found."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE subscriptions SET status = ?, pause_reason = ? "
                "WHERE id = ? AND guild_id = ? AND status != 'removed'",
                (str(status), reason, subscription_id, guild_id),
            )
            return cursor.rowcount > 0

    async def pause_channel(self, channel_id: int, reason: str) -> list[int]:
        """Pause every active subscription posting into ``channel_id``; returns their ids."""
        async with self._transaction() as db, db.execute(
            "UPDATE subscriptions SET status = 'paused', pause_reason = ? "
            "WHERE channel_id = ? AND status = 'active' RETURNING id",
            (reason, channel_id),
        ) as cursor:
            return sorted(row[0] for row in await cursor.fetchall())

    # -- outbox ---------------------------------------------------------------------------------------

    async def due_deliveries(self, now: datetime, limit: int = 500) -> list[PendingDelivery]:
        """Deliveries ready to send for active subscriptions, oldest first.

        Rows left in ``sending`` by a crash come back with their nonce so the resend is deduplicated.
        """
        rows = await self._fetchall(
            f"""SELECT d.subscription_id, d.channel_id, d.attempts, d.nonce, {_prefixed('p')}
                FROM deliveries d
                JOIN subscriptions s ON s.id = d.subscription_id
                JOIN papers p ON p.id = d.paper_id
                WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= ? AND s.status = 'active'
                ORDER BY d.created_at, p.first_seen_at, d.paper_id, d.subscription_id
                LIMIT ?""",
            (_ts(now), limit),
        )
        return [
            PendingDelivery(
                subscription_id=r[0], channel_id=r[1], attempts=r[2], nonce=r[3], paper=_paper_from_row(r[4:])
            )
            for r in rows
        ]

    async def sent_message_for(self, channel_id: int, paper_id: str) -> int | None:
        """The message that already carried ``paper_id`` into ``channel_id`` (via any subscription)."""
        row = await self._fetchone(
            "SELECT message_id FROM deliveries WHERE channel_id = ? AND paper_id = ? AND status = 'sent' "
            "LIMIT 1",
            (channel_id, paper_id),
        )
        return None if row is None else row[0]

    async def mark_sending(self, keys: Sequence[DeliveryKey], nonce: str, now: datetime) -> None:
        """Record the nonce *before* the request, so a crash resends with the same one."""
        await self._update_deliveries(
            keys, "status = 'sending', nonce = ?, attempts = attempts + 1", (nonce,)
        )

    async def mark_sent(self, keys: Sequence[DeliveryKey], message_id: int, now: datetime) -> None:
        await self._update_deliveries(
            keys, "status = 'sent', message_id = ?, sent_at = ?, last_error = NULL", (message_id, _ts(now))
        )

    async def mark_retry(self, keys: Sequence[DeliveryKey], error: str, retry_at: datetime) -> None:
        """Back to pending (keeping the nonce) until ``retry_at``."""
        await self._update_deliveries(
            keys, "status = 'pending', last_error = ?, next_attempt_at = ?", (error, _ts(retry_at))
        )

    async def mark_failed(self, keys: Sequence[DeliveryKey], error: str) -> None:
        await self._update_deliveries(keys, "status = 'failed', last_error = ?", (error,))

    async def _update_deliveries(self, keys: Sequence[DeliveryKey], assignments: str, params: tuple[Any, ...]) -> None:
        async with self._transaction() as db:
            await db.executemany(
                f"UPDATE deliveries SET {assignments} WHERE subscription_id = ? AND paper_id = ?",
                [(*params, sub_id, paper_id) for sub_id, paper_id in keys],
            )

    async def delivery_status(self, subscription_id: int, paper_id: str) -> DeliveryStatus | None:
        row = await self._fetchone(
            "SELECT status FROM deliveries WHERE subscription_id = ? AND paper_id = ?",
            (subscription_id, paper_id),
        )
        return None if row is None else DeliveryStatus(row[0])

    async def outbox_depth(self) -> int:
        """Deliveries waiting to go out for active subscriptions (a paused one's rows wait for its resume)."""
        row = await self._fetchone(
            "SELECT COUNT(*) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
            "WHERE d.status IN ('pending', 'sending') AND s.status = 'active'"
        )
        return int(row[0])

    # -- sources --------------------------------------------------------------------------------------

    async def record_source_result(self, source: str, now: datetime, error: str | None) -> int:
        """Record a poll's outcome; returns the number of consecutive failures after it."""
        async with self._transaction() as db:
            if error is None:
                await db.execute(
                    """INSERT INTO source_state (source, last_attempt_at, last_success_at, consecutive_failures)
                       VALUES (?, ?, ?, 0)
                       ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                           last_success_at = excluded.last_success_at, consecutive_failures = 0,
                           last_error = NULL""",
                    (source, _ts(now), _ts(now)),
                )
                return 0
            async with db.execute(
                """INSERT INTO source_state (source, last_attempt_at, consecutive_failures, last_error)
                   VALUES (?, ?, 1, ?)
                   ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                       consecutive_failures = consecutive_failures + 1, last_error = excluded.last_error
                   RETURNING consecutive_failures""",
                (source, _ts(now), error),
            ) as cursor:
                row = await cursor.fetchone()
            return int(row[0]) if row else 1

    async def source_state(self, source: str) -> SourceState | None:
        row = await self._fetchone(
            "SELECT source, last_attempt_at, last_success_at, consecutive_failures, last_error "
            "FROM source_state WHERE source = ?",
            (source,),
        )
        if row is None:
            return None
        return SourceState(row[0], _dt(row[1]), _dt(row[2]), row[3], row[4])


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in _PAPER_COLUMNS.split(","))


async def _queue(db: aiosqlite.Connection, keys: Sequence[DeliveryKey], now: datetime) -> int:
    """Insert pending deliveries; an existing (subscription, paper) row is left untouched (at most once)."""
    if not keys:
        return 0
    before = db.total_changes
    await db.executemany(
        """INSERT OR IGNORE INTO deliveries (subscription_id, paper_id, channel_id, created_at, next_attempt_at)
           SELECT id, ?, channel_id, ?, ? FROM subscriptions WHERE id = ?""",
        [(paper_id, _ts(now), _ts(now), sub_id) for sub_id, paper_id in keys],
    )
    return db.total_changes - before


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _migrate(db: aiosqlite.Connection) -> None:
    version = await _user_version(db)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        log.info("applying database migration %d", number)
        await db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
