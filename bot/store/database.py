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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.models import (
    DeliveryKey,
    DeliveryRecord,
    DeliveryStatus,
    DigestSettings,
    IngestResult,
    Owner,
    Paper,
    PendingDelivery,
    Schedule,
    Scope,
    SourceState,
    Subscription,
    SubscriptionStatus,
    Target,
)
from bot.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

SEARCH_WINDOW = 500  # full-text hits ranked per search (the newest ones)

Planner = Callable[[Sequence[Paper], Sequence[Paper]], Iterable[DeliveryKey]]
"""Given (newly seen papers, recently seen papers whose metadata was just updated), the (subscription,
paper) pairs that should be delivered. Pairs already in the outbox are ignored, so re-planning is safe."""


# The schema predates the shared vocabulary and spells Scope differently per table; only the store translates.
# digest_settings.scope holds Scope's own values.
_SUBSCRIPTION_KIND = {Scope.GUILD: "channel", Scope.USER: "alert"}  # subscriptions.kind
_TARGET_KIND = {Scope.GUILD: "channel", Scope.USER: "user"}  # deliveries.target_kind
_SCOPE_OF_KIND = {kind: scope for scope, kind in _SUBSCRIPTION_KIND.items()}
_SCOPE_OF_TARGET_KIND = {kind: scope for scope, kind in _TARGET_KIND.items()}

_PAPER_COLUMNS = (
    "id, title, abstract, authors, categories, source, url, pdf_url, code_url, project_url, "
    "thumbnail_url, upvotes, ai_summary, ai_keywords, published_at, first_seen_at"
)
_SUBSCRIPTION_COLUMNS = (
    "s.id, s.kind, s.guild_id, s.channel_id, s.user_id, s.query, s.created_at, s.schedule, s.min_upvotes, "
    "s.last_digest_at, s.status, s.pause_reason, "
    "(SELECT COUNT(*) FROM deliveries d WHERE d.subscription_id = s.id AND d.status = 'sent')"
)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _paper_params(paper: Paper, now: datetime) -> tuple[Any, ...]:
    return (
        paper.id,
        paper.title,
        paper.abstract,
        json.dumps(paper.authors),
        json.dumps(paper.categories),
        paper.source,
        paper.url,
        paper.pdf_url,
        paper.code_url,
        paper.project_url,
        paper.thumbnail_url,
        paper.upvotes,
        paper.ai_summary,
        json.dumps(paper.ai_keywords),
        _ts(paper.published_at),
        _ts(paper.first_seen_at or now),
        _ts(now),
    )


def _paper_from_row(row: Sequence[Any]) -> Paper:
    return Paper(
        id=row[0],
        title=row[1],
        abstract=row[2],
        authors=tuple(json.loads(row[3])),
        categories=tuple(json.loads(row[4])),
        source=row[5],
        url=row[6],
        pdf_url=row[7],
        code_url=row[8],
        project_url=row[9],
        thumbnail_url=row[10],
        upvotes=row[11],
        ai_summary=row[12],
        ai_keywords=tuple(json.loads(row[13])),
        published_at=_dt(row[14]),
        first_seen_at=_dt(row[15]),
    )


def _subscription_from_row(row: Sequence[Any]) -> Subscription:
    return Subscription(
        id=row[0],
        scope=_SCOPE_OF_KIND[row[1]],
        guild_id=row[2],
        channel_id=row[3],
        user_id=row[4],
        query=row[5],
        created_at=_dt(row[6]) or datetime.min.replace(tzinfo=UTC),
        schedule=Schedule(row[7]),
        min_upvotes=row[8],
        last_digest_at=_dt(row[9]),
        status=SubscriptionStatus(row[10]),
        pause_reason=row[11],
        delivered_count=row[12],
    )


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
        # One call on the connection's thread: run, fetch, finalize. Separate execute/fetch calls from
        # concurrent tasks would interleave, and a statement left open between them holds a read transaction,
        # so every other read on this connection would see the data as it was before the latest commits.
        return list(await self._reader.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a query that returns at most one (by key, or an aggregate)."""
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    # -- papers ---------------------------------------------------------------------------------------

    async def ingest(
        self, papers: Sequence[Paper], plan: Planner, now: datetime, recheck_since: datetime | None = None
    ) -> IngestResult:
        """Store ``papers`` and queue their deliveries, in one transaction.

        Papers seen for the first time are "new" and passed to ``plan``; a new *version* of a paper
        (``announce_type`` replace) is stored but never new. Papers already stored keep ``first_seen_at``
        and get their metadata merged (upvotes only grow; missing fields are filled in). Those first seen
        at or after ``recheck_since`` are passed to ``plan`` as "updated", with their merged metadata, so
        upvote thresholds can be re-checked. ``plan`` runs inside the transaction: a crash can never store
        a paper without its deliveries.
        """
        unique = list({p.id: p for p in papers}.values())
        async with self._transaction() as db:
            known = await _existing_ids(db, [p.id for p in unique])
            inserted = [replace(p, first_seen_at=now) for p in unique if p.id not in known]
            await db.executemany(
                f"INSERT INTO papers ({_PAPER_COLUMNS}, updated_at) VALUES ({','.join('?' * 17)})",
                [_paper_params(p, now) for p in inserted],
            )
            merged = [p for p in unique if p.id in known]
            await db.executemany(_MERGE_PAPER, [_merge_params(p, now) for p in merged])
            recheck: list[Paper] = []
            if recheck_since is not None and merged:
                recheck = await _papers_by_id(db, [p.id for p in merged], first_seen_since=recheck_since)
            new = tuple(p for p in inserted if not p.is_new_version)
            keys = list(plan(new, recheck)) if new or recheck else []
            queued = await _queue(db, keys, now)
        return IngestResult(new_papers=new, updated=len(merged), queued=queued)

    async def get_paper(self, paper_id: str) -> Paper | None:
        row = await self._fetchone(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id = ?", (paper_id,))
        return None if row is None else _paper_from_row(row)

    async def papers_seen_since(
        self,
        since: datetime,
        limit: int = 5000,
        expression: str | None = None,
    ) -> list[Paper]:
        """Papers first seen at or after ``since``, newest first; with an FTS5 ``expression`` (see
        bot.store.search), only its full-text matches. Rowids grow in first-seen order, so the full-text
        lookup is bounded to the rowids of the period."""
        if expression is None:
            sql = f"SELECT {_PAPER_COLUMNS} FROM papers WHERE first_seen_at >= ? "
            params: tuple[Any, ...] = (_ts(since),)
        else:
            # The newest hits first, walking the full-text index backwards only as far as needed.
            sql = (
                f"WITH hits AS (SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? AND rowid >= "
                "(SELECT COALESCE(MIN(rowid), 0) FROM papers WHERE first_seen_at >= ?) "
                "ORDER BY rowid DESC LIMIT ?) "
                f"SELECT {_PAPER_COLUMNS} FROM papers "
                "WHERE rowid IN (SELECT rowid FROM hits) AND first_seen_at >= ? "
            )
            params = (expression, _ts(since), limit, _ts(since))
        rows = await self._fetchall(sql + "ORDER BY first_seen_at DESC, id DESC LIMIT ?", (*params, limit))
        return [_paper_from_row(r) for r in rows]

    async def count_papers(self, source: str | None = None) -> int:
        if source is None:
            row = await self._fetchone("SELECT COUNT(*) FROM papers")
        else:
            row = await self._fetchone("SELECT COUNT(*) FROM papers WHERE source = ?", (source,))
        return int(row[0])

    async def latest_papers(self, limit: int, source: str | None = None) -> list[Paper]:
        """The most recently first-seen papers (optionally from one source), newest first."""
        where, params = ("WHERE source = ?", (source,)) if source else ("", ())
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers {where} ORDER BY first_seen_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [_paper_from_row(r) for r in rows]

    async def trending_papers(self, since: datetime, limit: int) -> list[Paper]:
        """Hugging Face papers first seen since ``since``, most upvoted first."""
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE first_seen_at >= ? AND upvotes > 0 "
            "ORDER BY upvotes DESC, first_seen_at DESC LIMIT ?",
            (_ts(since), limit),
        )
        return [_paper_from_row(r) for r in rows]

    async def search_papers(
        self, expression: str, limit: int, source: str | None = None, window: int = SEARCH_WINDOW
    ) -> list[tuple[Paper, float]]:
        """Full-text candidates for an FTS5 ``expression`` (see bot.store.search), with bm25 scores (lower is
        better; the title weighs most). Only the newest ``window`` full-text hits are ranked: a very common
        word would otherwise make bm25 score most of the table on every search."""
        where, params = (" AND p.source = ?", (source,)) if source else ("", ())
        rows = await self._fetchall(
            f"""WITH recent AS (
                    SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? ORDER BY rowid DESC LIMIT ?
                )
                SELECT {_prefixed("p")}, bm25(papers_fts, 8.0, 2.0, 1.0, 3.0) AS score
                FROM papers_fts JOIN papers p ON p.rowid = papers_fts.rowid
                WHERE papers_fts MATCH ? AND papers_fts.rowid >= (SELECT COALESCE(MIN(rowid), 0) FROM recent){where}
                ORDER BY score LIMIT ?""",
            (expression, window, expression, *params, limit),
        )
        return [(_paper_from_row(r[:16]), float(r[16])) for r in rows]

    # -- subscriptions and alerts ---------------------------------------------------------------------

    async def add_subscription(
        self,
        *,
        scope: Scope,
        user_id: int,
        query: str,
        now: datetime,
        guild_id: int | None = None,
        channel_id: int | None = None,
        schedule: Schedule = Schedule.INSTANT,
        min_upvotes: int = 0,
        backfill: Sequence[str] = (),
    ) -> Subscription:
        """Create a channel subscription or an alert, and queue ``backfill`` paper ids for it, atomically."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO subscriptions (kind, guild_id, channel_id, user_id, query, schedule, min_upvotes, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_SUBSCRIPTION_KIND[scope], guild_id, channel_id, user_id, query, str(schedule), min_upvotes, _ts(now)),
            )
            sub_id = cursor.lastrowid
            assert sub_id is not None
            await _queue(db, [(sub_id, paper_id) for paper_id in backfill], now, hold=False)
        return Subscription(
            id=sub_id,
            scope=scope,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            query=query,
            created_at=now,
            schedule=schedule,
            min_upvotes=min_upvotes,
        )

    async def count_subscriptions(self, owner: Owner) -> int:
        """Live (not removed) subscriptions of a server, or alerts of a user."""
        where, params = _owner_filter(owner)
        row = await self._fetchone(
            f"SELECT COUNT(*) FROM subscriptions s WHERE {where} AND s.status != 'removed'", params
        )
        return int(row[0])

    async def list_subscriptions(self, owner: Owner, channel_id: int | None = None) -> list[Subscription]:
        """A server's subscriptions (optionally one channel's) or a user's alerts, oldest first."""
        where, params = _owner_filter(owner)
        sql = f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE {where} AND s.status != 'removed'"
        if channel_id is not None:
            sql += " AND s.channel_id = ?"
            params = (*params, channel_id)
        rows = await self._fetchall(sql + " ORDER BY s.id", params)
        return [_subscription_from_row(r) for r in rows]

    async def get_subscription(self, owner: Owner, subscription_id: int) -> Subscription | None:
        """One of *this owner's* subscriptions; another server's or user's id reads as not found."""
        where, params = _owner_filter(owner)
        row = await self._fetchone(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = ? AND {where} AND s.status != 'removed'",
            (subscription_id, *params),
        )
        return None if row is None else _subscription_from_row(row)

    async def active_subscriptions(self, after: int = 0, limit: int = -1) -> list[Subscription]:
        """Active subscriptions and alerts by id, those with ids above ``after``, at most ``limit`` (-1: all).

        Page through many with ``after`` = the last id seen, so they are never all in memory at once.
        """
        rows = await self._fetchall(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.status = 'active' AND s.id > ? "
            "ORDER BY s.id LIMIT ?",
            (after, limit),
        )
        return [_subscription_from_row(r) for r in rows]

    async def digest_subscriptions(self) -> list[Subscription]:
        """Active subscriptions and alerts on a daily or weekly schedule."""
        rows = await self._fetchall(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s "
            "WHERE s.status = 'active' AND s.schedule != 'instant' ORDER BY s.id"
        )
        return [_subscription_from_row(r) for r in rows]

    async def set_subscription_status(
        self, owner: Owner, subscription_id: int, status: SubscriptionStatus, reason: str | None = None
    ) -> bool:
        """Pause, resume or remove one of this owner's subscriptions; False when it is not found."""
        where, params = _owner_filter(owner)
        async with self._transaction() as db:
            cursor = await db.execute(
                f"UPDATE subscriptions AS s SET status = ?, pause_reason = ? "
                f"WHERE s.id = ? AND {where} AND s.status != 'removed'",
                (str(status), reason, subscription_id, *params),
            )
            return cursor.rowcount > 0

    async def pause_target(self, target: Target, reason: str) -> list[int]:
        """Pause every active subscription delivering to ``target``; returns their ids."""
        column = "channel_id" if target.scope is Scope.GUILD else "user_id"
        async with (
            self._transaction() as db,
            db.execute(
                f"UPDATE subscriptions SET status = 'paused', pause_reason = ? "
                f"WHERE {column} = ? AND kind = ? AND status = 'active' RETURNING id",
                (reason, target.id, _SUBSCRIPTION_KIND[target.scope]),
            ) as cursor,
        ):
            return sorted(row[0] for row in await cursor.fetchall())

    async def set_last_digest(self, subscription_id: int, period_end: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE subscriptions SET last_digest_at = ? WHERE id = ?", (_ts(period_end), subscription_id)
            )

    # -- digest settings ------------------------------------------------------------------------------

    async def digest_settings(self, owner: Owner) -> DigestSettings:
        row = await self._fetchone(
            "SELECT timezone, digest_time, weekly_day FROM digest_settings WHERE scope = ? AND owner_id = ?",
            (str(owner.scope), owner.id),
        )
        return DigestSettings() if row is None else DigestSettings(row[0], row[1], row[2])

    async def save_digest_settings(self, owner: Owner, settings: DigestSettings) -> None:
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO digest_settings (scope, owner_id, timezone, digest_time, weekly_day)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (scope, owner_id) DO UPDATE SET timezone = excluded.timezone,
                       digest_time = excluded.digest_time, weekly_day = excluded.weekly_day""",
                (str(owner.scope), owner.id, settings.timezone, settings.digest_time, settings.weekly_day),
            )

    # -- DM channels ----------------------------------------------------------------------------------

    async def dm_channel(self, user_id: int) -> int | None:
        row = await self._fetchone("SELECT channel_id FROM dm_channels WHERE user_id = ?", (user_id,))
        return None if row is None else int(row[0])

    async def save_dm_channel(self, user_id: int, channel_id: int, now: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO dm_channels (user_id, channel_id, opened_at) VALUES (?, ?, ?)",
                (user_id, channel_id, _ts(now)),
            )

    # -- outbox ---------------------------------------------------------------------------------------

    async def due_deliveries(
        self, now: datetime, limit: int = 500, per_target: int = 50, target: Target | None = None
    ) -> list[PendingDelivery]:
        """Instant deliveries ready to send for active subscriptions (optionally one target's), oldest first, at
        most ``per_target`` rows for any one target so that one target's backlog cannot crowd out the others.

        Rows left in ``sending`` by a crash come back with their nonce so the resend is deduplicated.
        """
        only, params = (
            ("", ())
            if target is None
            else (" AND d.target_kind = ? AND d.target_id = ?", (_TARGET_KIND[target.scope], target.id))
        )
        rows = await self._fetchall(
            f"""SELECT {_PENDING_COLUMNS} FROM (
                    SELECT d.*, ROW_NUMBER() OVER (
                        PARTITION BY d.target_kind, d.target_id ORDER BY d.created_at, d.paper_id, d.subscription_id
                    ) AS position
                    FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
                    WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= ? AND s.status = 'active'{only}
                ) d
                JOIN subscriptions s ON s.id = d.subscription_id
                JOIN papers p ON p.id = d.paper_id
                WHERE d.position <= ?
                ORDER BY d.created_at, p.first_seen_at, d.paper_id, d.subscription_id
                LIMIT ?""",
            (_ts(now), *params, per_target, limit),
        )
        return [_pending_from_row(r) for r in rows]

    async def held_deliveries(self, subscription_id: int) -> list[PendingDelivery]:
        """What a digest subscription has accumulated (including a digest interrupted mid-send)."""
        rows = await self._fetchall(
            f"""SELECT {_PENDING_COLUMNS}
                FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN papers p ON p.id = d.paper_id
                WHERE d.subscription_id = ? AND d.status = 'held'
                ORDER BY p.upvotes DESC, p.first_seen_at DESC, p.id""",
            (subscription_id,),
        )
        return [_pending_from_row(r) for r in rows]

    async def digest_blocked_until(self, subscription_id: int) -> datetime | None:
        """When a failed digest send may be retried (None: not blocked)."""
        row = await self._fetchone(
            "SELECT MAX(next_attempt_at) FROM deliveries WHERE subscription_id = ? AND status = 'held'",
            (subscription_id,),
        )
        return _dt(row[0]) if row and row[0] else None

    async def sent_message_for(self, target: Target, paper_id: str) -> int | None:
        """The message that already carried ``paper_id`` to ``target`` (via any subscription)."""
        row = await self._fetchone(
            "SELECT message_id FROM deliveries WHERE target_kind = ? AND target_id = ? AND paper_id = ? "
            "AND status = 'sent' LIMIT 1",
            (_TARGET_KIND[target.scope], target.id, paper_id),
        )
        return None if row is None else row[0]

    async def mark_sending(
        self, keys: Sequence[DeliveryKey], nonce: str, now: datetime, status: DeliveryStatus = DeliveryStatus.SENDING
    ) -> None:
        """Record the nonce *before* the request, so a crash resends with the same one.

        A digest's rows stay ``held`` (with their nonce) while it is sent, so only the digest path resends them.
        """
        await self._update_deliveries(
            keys, "status = ?, nonce = ?, attempts = attempts + 1, attempted_at = ?", (str(status), nonce, _ts(now))
        )

    async def mark_sent(self, keys: Sequence[DeliveryKey], message_id: int, now: datetime) -> None:
        await self._update_deliveries(
            keys, "status = 'sent', message_id = ?, sent_at = ?, last_error = NULL", (message_id, _ts(now))
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
            keys, "status = ?, last_error = ?, next_attempt_at = ?", (str(status), error, _ts(retry_at))
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
        record = await self.delivery_record(subscription_id, paper_id)
        return None if record is None else record.status

    async def delivery_record(self, subscription_id: int, paper_id: str) -> DeliveryRecord | None:
        """The outbox row for one (subscription, paper), with the channel its message went to."""
        row = await self._fetchone(
            """SELECT d.status, d.message_id, d.last_error, d.target_kind, d.target_id, dm.channel_id
               FROM deliveries d LEFT JOIN dm_channels dm ON d.target_kind = 'user' AND dm.user_id = d.target_id
               WHERE d.subscription_id = ? AND d.paper_id = ?""",
            (subscription_id, paper_id),
        )
        if row is None:
            return None
        channel_id = row[4] if row[3] == "channel" else row[5]
        return DeliveryRecord(DeliveryStatus(row[0]), row[1], row[2], channel_id)

    async def outbox_depth(self) -> int:
        """Instant deliveries waiting to go out for active subscriptions (paused ones wait for resume)."""
        row = await self._fetchone(
            "SELECT COUNT(*) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
            "WHERE d.status IN ('pending', 'sending') AND s.status = 'active'"
        )
        return int(row[0])

    # -- sources --------------------------------------------------------------------------------------

    async def record_source_result(
        self, source: str, now: datetime, error: str | None, next_attempt: datetime | None = None
    ) -> int:
        """Record a poll's outcome (and, after a failure, when to try again); returns the consecutive failures."""
        async with self._transaction() as db:
            if error is None:
                await db.execute(
                    """INSERT INTO source_state (source, last_attempt_at, last_success_at, consecutive_failures,
                                               successes)
                       VALUES (?, ?, ?, 0, 1)
                       ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                           last_success_at = excluded.last_success_at, consecutive_failures = 0,
                           successes = successes + 1, last_error = NULL, next_attempt_at = NULL""",
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

    async def set_next_attempt(self, source: str, when: datetime | None) -> None:
        """When a backing-off source may be polled again (None: at its normal interval)."""
        async with self._transaction() as db:
            await db.execute("UPDATE source_state SET next_attempt_at = ? WHERE source = ?", (_ts(when), source))

    async def source_state(self, source: str) -> SourceState | None:
        row = await self._fetchone(
            "SELECT source, last_attempt_at, last_success_at, consecutive_failures, last_error, successes, degraded, "
            "next_attempt_at FROM source_state WHERE source = ?",
            (source,),
        )
        if row is None:
            return None
        return SourceState(row[0], _dt(row[1]), _dt(row[2]), row[3], row[4], row[5], bool(row[6]), _dt(row[7]))

    async def set_source_degraded(self, source: str, degraded: bool) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE source_state SET degraded = ? WHERE source = ?", (int(degraded), source))


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in _PAPER_COLUMNS.split(","))


async def _queue(db: aiosqlite.Connection, keys: Sequence[DeliveryKey], now: datetime, hold: bool = True) -> int:
    """Insert deliveries; an existing (subscription, paper) row is left untouched (at most once, ever).

    A digest subscription's rows are ``held`` for its digest unless ``hold`` is False (backfill goes out now).
    """
    if not keys:
        return 0
    before = db.total_changes
    await db.executemany(
        """INSERT OR IGNORE INTO deliveries
               (subscription_id, paper_id, target_kind, target_id, status, created_at, next_attempt_at)
           SELECT id, ?, CASE kind WHEN 'channel' THEN 'channel' ELSE 'user' END,
                  CASE kind WHEN 'channel' THEN channel_id ELSE user_id END,
                  CASE WHEN ? AND schedule != 'instant' THEN 'held' ELSE 'pending' END, ?, ?
           FROM subscriptions WHERE id = ?""",
        [(paper_id, hold, _ts(now), _ts(now), sub_id) for sub_id, paper_id in keys],
    )
    return db.total_changes - before


async def _existing_ids(db: aiosqlite.Connection, ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        async with db.execute(f"SELECT id FROM papers WHERE id IN ({marks})", chunk) as cursor:
            known.update(row[0] for row in await cursor.fetchall())
    return known


async def _papers_by_id(db: aiosqlite.Connection, ids: Sequence[str], first_seen_since: datetime) -> list[Paper]:
    papers: list[Paper] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        async with db.execute(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id IN ({marks}) AND first_seen_at >= ?",
            (*chunk, _ts(first_seen_since)),
        ) as cursor:
            papers.extend(_paper_from_row(row) for row in await cursor.fetchall())
    return papers


_MERGE_PAPER = """
    UPDATE papers SET
        title = CASE WHEN ? != '' THEN ? ELSE title END,
        abstract = CASE WHEN ? != '' THEN ? ELSE abstract END,
        authors = CASE WHEN ? = '[]' THEN authors ELSE ? END,
        categories = CASE WHEN ? = '[]' THEN categories ELSE ? END,
        url = CASE WHEN ? = 'huggingface' OR url = '' THEN ? ELSE url END,
        pdf_url = COALESCE(pdf_url, ?), code_url = COALESCE(?, code_url),
        project_url = COALESCE(?, project_url), thumbnail_url = COALESCE(?, thumbnail_url),
        upvotes = MAX(upvotes, ?), ai_summary = COALESCE(?, ai_summary),
        ai_keywords = CASE WHEN ? = '[]' THEN ai_keywords ELSE ? END,
        published_at = COALESCE(published_at, ?), updated_at = ?
    WHERE id = ?"""


def _merge_params(p: Paper, now: datetime) -> tuple[Any, ...]:
    """Parameters for _MERGE_PAPER: fill gaps, grow upvotes, prefer the HF page as the paper's link."""
    authors, categories, keywords = json.dumps(p.authors), json.dumps(p.categories), json.dumps(p.ai_keywords)
    return (
        p.title,
        p.title,
        p.abstract,
        p.abstract,
        authors,
        authors,
        categories,
        categories,
        p.source,
        p.url,
        p.pdf_url,
        p.code_url,
        p.project_url,
        p.thumbnail_url,
        p.upvotes,
        p.ai_summary,
        keywords,
        keywords,
        _ts(p.published_at),
        _ts(now),
        p.id,
    )


def _owner_filter(owner: Owner) -> tuple[str, tuple[Any, ...]]:
    if owner.scope is Scope.GUILD:
        return "s.kind = 'channel' AND s.guild_id = ?", (owner.id,)
    return "s.kind = 'alert' AND s.user_id = ?", (owner.id,)


_PENDING_COLUMNS = (
    "d.subscription_id, d.target_kind, d.target_id, d.attempts, d.nonce, d.attempted_at, "
    "COALESCE(s.guild_id, s.user_id), " + _prefixed("p")
)


def _pending_from_row(r: Sequence[Any]) -> PendingDelivery:
    return PendingDelivery(
        subscription_id=r[0],
        target=Target(_SCOPE_OF_TARGET_KIND[r[1]], r[2]),
        attempts=r[3],
        nonce=r[4],
        attempted_at=_dt(r[5]),
        owner_id=r[6],
        paper=_paper_from_row(r[7:]),
    )


async def _user_version(db: aiosqlite.Connection) -> int:
    rows = list(await db.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0]) if rows else 0


async def _migrate(db: aiosqlite.Connection) -> None:
    version = await _user_version(db)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        log.info("applying database migration %d", number)
        await db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
