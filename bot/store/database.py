"""The SQLite store: the only module that speaks SQL.

One writer connection guarded by an ``asyncio.Lock`` with explicit ``BEGIN IMMEDIATE`` transactions
(aiosqlite would otherwise interleave another task's statements into ours), and one reader connection;
WAL lets the reader run while the writer commits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
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

# The stored Paper fields, named as both the dataclass fields and the columns: adding one is one edit here
# (plus its migration). JSON and timestamp columns are encoded on the way in and decoded on the way out.
_PAPER_FIELDS = (
    "id",
    "title",
    "abstract",
    "authors",
    "categories",
    "source",
    "url",
    "pdf_url",
    "code_url",
    "project_url",
    "thumbnail_url",
    "upvotes",
    "ai_summary",
    "ai_keywords",
    "published_at",
    "first_seen_at",
)
_JSON_FIELDS = frozenset({"authors", "categories", "ai_keywords"})
_TIME_FIELDS = frozenset({"published_at", "first_seen_at"})
_PAPER_COLUMNS = ", ".join(_PAPER_FIELDS)
_INSERT_PAPER = (
    f"INSERT INTO papers ({_PAPER_COLUMNS}, updated_at) "
    f"VALUES ({', '.join(':' + field for field in _PAPER_FIELDS)}, :updated_at)"
)
_SUBSCRIPTION_COLUMNS = (
    "s.id, s.kind, s.guild_id, s.channel_id, s.user_id, s.query, s.created_at, s.schedule, s.min_upvotes, "
    "s.last_digest_at, s.status, s.pause_reason, "
    "(SELECT COUNT(*) FROM deliveries d WHERE d.subscription_id = s.id AND d.status = 'sent') AS delivered_count"
)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _paper_params(paper: Paper, now: datetime) -> dict[str, Any]:
    """Named parameters for one paper's row: every stored field, plus ``updated_at``."""
    params: dict[str, Any] = {}
    for field in _PAPER_FIELDS:
        value = getattr(paper, field)
        if field in _JSON_FIELDS:
            value = json.dumps(value)
        elif field in _TIME_FIELDS:
            value = _ts(value)
        params[field] = value
    params["first_seen_at"] = _ts(paper.first_seen_at or now)
    params["updated_at"] = _ts(now)
    return params


def _paper_from_row(row: aiosqlite.Row) -> Paper:
    """The paper in a row holding the paper columns by name (a join may add others)."""
    values: dict[str, Any] = {}
    for field in _PAPER_FIELDS:
        value = row[field]
        if field in _JSON_FIELDS:
            value = tuple(json.loads(value))
        elif field in _TIME_FIELDS:
            value = _dt(value)
        values[field] = value
    return Paper(**values)


def _subscription_from_row(row: aiosqlite.Row) -> Subscription:
    return Subscription(
        id=row["id"],
        scope=_SCOPE_OF_KIND[row["kind"]],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        query=row["query"],
        created_at=_dt(row["created_at"]) or datetime.min.replace(tzinfo=UTC),
        schedule=Schedule(row["schedule"]),
        min_upvotes=row["min_upvotes"],
        last_digest_at=_dt(row["last_digest_at"]),
        status=SubscriptionStatus(row["status"]),
        pause_reason=row["pause_reason"],
        delivered_count=row["delivered_count"],
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
        writer.row_factory = aiosqlite.Row  # rows are read by column name, never by position
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
        reader.row_factory = aiosqlite.Row
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

    async def _fetchall(self, sql: str, params: Mapping[str, Any] | None = None) -> list[aiosqlite.Row]:
        # One call on the connection's thread: run, fetch, finalize. Separate execute/fetch calls from
        # concurrent tasks would interleave, and a statement left open between them holds a read transaction,
        # so every other read on this connection would see the data as it was before the latest commits.
        return list(await self._reader.execute_fetchall(sql, params or {}))

    async def _fetchone(self, sql: str, params: Mapping[str, Any] | None = None) -> aiosqlite.Row | None:
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
            await db.executemany(_INSERT_PAPER, [_paper_params(p, now) for p in inserted])
            merged = [p for p in unique if p.id in known]
            await db.executemany(_MERGE_PAPER, [_paper_params(p, now) for p in merged])
            recheck: list[Paper] = []
            if recheck_since is not None and merged:
                recheck = await _papers_by_id(db, [p.id for p in merged], first_seen_since=recheck_since)
            new = tuple(p for p in inserted if not p.is_new_version)
            keys = list(plan(new, recheck)) if new or recheck else []
            queued = await _queue(db, keys, now)
        return IngestResult(new_papers=new, updated=len(merged), queued=queued)

    async def get_paper(self, paper_id: str) -> Paper | None:
        row = await self._fetchone(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id = :id", {"id": paper_id})
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
            sql = f"SELECT {_PAPER_COLUMNS} FROM papers WHERE first_seen_at >= :since "
        else:
            # The newest hits first, walking the full-text index backwards only as far as needed.
            sql = (
                "WITH hits AS (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression AND rowid >= "
                "(SELECT COALESCE(MIN(rowid), 0) FROM papers WHERE first_seen_at >= :since) "
                "ORDER BY rowid DESC LIMIT :limit) "
                f"SELECT {_PAPER_COLUMNS} FROM papers "
                "WHERE rowid IN (SELECT rowid FROM hits) AND first_seen_at >= :since "
            )
        rows = await self._fetchall(
            sql + "ORDER BY first_seen_at DESC, id DESC LIMIT :limit",
            {"expression": expression, "since": _ts(since), "limit": limit},
        )
        return [_paper_from_row(r) for r in rows]

    async def count_papers(self, source: str | None = None) -> int:
        where = "" if source is None else " WHERE source = :source"
        row = await self._fetchone(f"SELECT COUNT(*) AS n FROM papers{where}", {"source": source})
        return int(row["n"]) if row else 0

    async def latest_papers(self, limit: int, source: str | None = None) -> list[Paper]:
        """The most recently first-seen papers (optionally from one source), newest first."""
        where = "WHERE source = :source" if source else ""
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers {where} ORDER BY first_seen_at DESC, id DESC LIMIT :limit",
            {"source": source, "limit": limit},
        )
        return [_paper_from_row(r) for r in rows]

    async def trending_papers(self, since: datetime, limit: int) -> list[Paper]:
        """Hugging Face papers first seen since ``since``, most upvoted first."""
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE first_seen_at >= :since AND upvotes > 0 "
            "ORDER BY upvotes DESC, first_seen_at DESC LIMIT :limit",
            {"since": _ts(since), "limit": limit},
        )
        return [_paper_from_row(r) for r in rows]

    async def search_papers(
        self, expression: str, limit: int, source: str | None = None, window: int = SEARCH_WINDOW
    ) -> list[tuple[Paper, float]]:
        """Full-text candidates for an FTS5 ``expression`` (see bot.store.search), with bm25 scores (lower is
        better; the title weighs most). Only the newest ``window`` full-text hits are ranked: a very common
        word would otherwise make bm25 score most of the table on every search."""
        where = " AND p.source = :source" if source else ""
        rows = await self._fetchall(
            f"""WITH recent AS (
                    SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expression ORDER BY rowid DESC LIMIT :window
                )
                SELECT {_prefixed("p")}, bm25(papers_fts, 8.0, 2.0, 1.0, 3.0) AS score
                FROM papers_fts JOIN papers p ON p.rowid = papers_fts.rowid
                WHERE papers_fts MATCH :expression
                    AND papers_fts.rowid >= (SELECT COALESCE(MIN(rowid), 0) FROM recent){where}
                ORDER BY score LIMIT :limit""",
            {"expression": expression, "window": window, "source": source, "limit": limit},
        )
        return [(_paper_from_row(r), float(r["score"])) for r in rows]

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
                "created_at) VALUES (:kind, :guild_id, :channel_id, :user_id, :query, :schedule, :min_upvotes, :now)",
                {
                    "kind": _SUBSCRIPTION_KIND[scope],
                    "guild_id": guild_id,
                    "channel_id": channel_id,
                    "user_id": user_id,
                    "query": query,
                    "schedule": str(schedule),
                    "min_upvotes": min_upvotes,
                    "now": _ts(now),
                },
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
            f"SELECT COUNT(*) AS n FROM subscriptions s WHERE {where} AND s.status != 'removed'", params
        )
        return int(row["n"]) if row else 0

    async def list_subscriptions(self, owner: Owner, channel_id: int | None = None) -> list[Subscription]:
        """A server's subscriptions (optionally one channel's) or a user's alerts, oldest first."""
        where, params = _owner_filter(owner)
        sql = f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE {where} AND s.status != 'removed'"
        if channel_id is not None:
            sql += " AND s.channel_id = :channel_id"
            params = {**params, "channel_id": channel_id}
        rows = await self._fetchall(sql + " ORDER BY s.id", params)
        return [_subscription_from_row(r) for r in rows]

    async def get_subscription(self, owner: Owner, subscription_id: int) -> Subscription | None:
        """One of *this owner's* subscriptions; another server's or user's id reads as not found."""
        where, params = _owner_filter(owner)
        row = await self._fetchone(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s "
            f"WHERE s.id = :id AND {where} AND s.status != 'removed'",
            {**params, "id": subscription_id},
        )
        return None if row is None else _subscription_from_row(row)

    async def active_subscriptions(self, after: int = 0, limit: int = -1) -> list[Subscription]:
        """Active subscriptions and alerts by id, those with ids above ``after``, at most ``limit`` (-1: all).

        Page through many with ``after`` = the last id seen, so they are never all in memory at once.
        """
        rows = await self._fetchall(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.status = 'active' AND s.id > :after "
            "ORDER BY s.id LIMIT :limit",
            {"after": after, "limit": limit},
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
                f"UPDATE subscriptions AS s SET status = :status, pause_reason = :reason "
                f"WHERE s.id = :id AND {where} AND s.status != 'removed'",
                {**params, "status": str(status), "reason": reason, "id": subscription_id},
            )
            return cursor.rowcount > 0

    async def pause_target(self, target: Target, reason: str) -> list[int]:
        """Pause every active subscription delivering to ``target``; returns their ids."""
        column = "channel_id" if target.scope is Scope.GUILD else "user_id"
        async with (
            self._transaction() as db,
            db.execute(
                f"UPDATE subscriptions SET status = 'paused', pause_reason = :reason "
                f"WHERE {column} = :target_id AND kind = :kind AND status = 'active' RETURNING id",
                {"reason": reason, "target_id": target.id, "kind": _SUBSCRIPTION_KIND[target.scope]},
            ) as cursor,
        ):
            return sorted(row["id"] for row in await cursor.fetchall())

    async def set_last_digest(self, subscription_id: int, period_end: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE subscriptions SET last_digest_at = :period_end WHERE id = :id",
                {"period_end": _ts(period_end), "id": subscription_id},
            )

    # -- digest settings ------------------------------------------------------------------------------

    async def digest_settings(self, owner: Owner) -> DigestSettings:
        row = await self._fetchone(
            "SELECT timezone, digest_time, weekly_day FROM digest_settings "
            "WHERE scope = :scope AND owner_id = :owner_id",
            {"scope": str(owner.scope), "owner_id": owner.id},
        )
        if row is None:
            return DigestSettings()
        return DigestSettings(row["timezone"], row["digest_time"], row["weekly_day"])

    async def save_digest_settings(self, owner: Owner, settings: DigestSettings) -> None:
        async with self._transaction() as db:
            await db.execute(
                """INSERT INTO digest_settings (scope, owner_id, timezone, digest_time, weekly_day)
                   VALUES (:scope, :owner_id, :timezone, :digest_time, :weekly_day)
                   ON CONFLICT (scope, owner_id) DO UPDATE SET timezone = excluded.timezone,
                       digest_time = excluded.digest_time, weekly_day = excluded.weekly_day""",
                {
                    "scope": str(owner.scope),
                    "owner_id": owner.id,
                    "timezone": settings.timezone,
                    "digest_time": settings.digest_time,
                    "weekly_day": settings.weekly_day,
                },
            )

    # -- DM channels ----------------------------------------------------------------------------------

    async def dm_channel(self, user_id: int) -> int | None:
        row = await self._fetchone("SELECT channel_id FROM dm_channels WHERE user_id = :user_id", {"user_id": user_id})
        return None if row is None else int(row["channel_id"])

    async def save_dm_channel(self, user_id: int, channel_id: int, now: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO dm_channels (user_id, channel_id, opened_at) "
                "VALUES (:user_id, :channel_id, :now)",
                {"user_id": user_id, "channel_id": channel_id, "now": _ts(now)},
            )

    # -- outbox ---------------------------------------------------------------------------------------

    async def due_deliveries(
        self, now: datetime, limit: int = 500, per_target: int = 50, target: Target | None = None
    ) -> list[PendingDelivery]:
        """Instant deliveries ready to send for active subscriptions (optionally one target's), oldest first, at
        most ``per_target`` rows for any one target so that one target's backlog cannot crowd out the others.

        Rows left in ``sending`` by a crash come back with their nonce so the resend is deduplicated.
        """
        only = "" if target is None else " AND d.target_kind = :target_kind AND d.target_id = :target_id"
        rows = await self._fetchall(
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
                "now": _ts(now),
                "target_kind": None if target is None else _TARGET_KIND[target.scope],
                "target_id": None if target is None else target.id,
                "per_target": per_target,
                "limit": limit,
            },
        )
        return [_pending_from_row(r) for r in rows]

    async def held_deliveries(self, subscription_id: int) -> list[PendingDelivery]:
        """What a digest subscription has accumulated (including a digest interrupted mid-send)."""
        rows = await self._fetchall(
            f"""SELECT {_PENDING_COLUMNS}
                FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id JOIN papers p ON p.id = d.paper_id
                WHERE d.subscription_id = :subscription_id AND d.status = 'held'
                ORDER BY p.upvotes DESC, p.first_seen_at DESC, p.id""",
            {"subscription_id": subscription_id},
        )
        return [_pending_from_row(r) for r in rows]

    async def digest_blocked_until(self, subscription_id: int) -> datetime | None:
        """When a failed digest send may be retried (None: not blocked)."""
        row = await self._fetchone(
            "SELECT MAX(next_attempt_at) AS until FROM deliveries "
            "WHERE subscription_id = :subscription_id AND status = 'held'",
            {"subscription_id": subscription_id},
        )
        return _dt(row["until"]) if row else None

    async def sent_message_for(self, target: Target, paper_id: str) -> int | None:
        """The message that already carried ``paper_id`` to ``target`` (via any subscription)."""
        row = await self._fetchone(
            "SELECT message_id FROM deliveries WHERE target_kind = :target_kind AND target_id = :target_id "
            "AND paper_id = :paper_id AND status = 'sent' LIMIT 1",
            {"target_kind": _TARGET_KIND[target.scope], "target_id": target.id, "paper_id": paper_id},
        )
        return None if row is None else row["message_id"]

    async def mark_sending(
        self, keys: Sequence[DeliveryKey], nonce: str, now: datetime, status: DeliveryStatus = DeliveryStatus.SENDING
    ) -> None:
        """Record the nonce *before* the request, so a crash resends with the same one.

        A digest's rows stay ``held`` (with their nonce) while it is sent, so only the digest path resends them.
        """
        await self._update_deliveries(
            keys,
            "status = :status, nonce = :nonce, attempts = attempts + 1, attempted_at = :now",
            {"status": str(status), "nonce": nonce, "now": _ts(now)},
        )

    async def mark_sent(self, keys: Sequence[DeliveryKey], message_id: int, now: datetime) -> None:
        await self._update_deliveries(
            keys,
            "status = 'sent', message_id = :message_id, sent_at = :now, last_error = NULL",
            {"message_id": message_id, "now": _ts(now)},
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
            {"status": str(status), "error": error, "retry_at": _ts(retry_at)},
        )

    async def mark_failed(self, keys: Sequence[DeliveryKey], error: str) -> None:
        await self._update_deliveries(keys, "status = 'failed', last_error = :error", {"error": error})

    async def _update_deliveries(
        self, keys: Sequence[DeliveryKey], assignments: str, params: Mapping[str, Any]
    ) -> None:
        async with self._transaction() as db:
            await db.executemany(
                f"UPDATE deliveries SET {assignments} "
                "WHERE subscription_id = :subscription_id AND paper_id = :paper_id",
                [{**params, "subscription_id": sub_id, "paper_id": paper_id} for sub_id, paper_id in keys],
            )

    async def delivery_status(self, subscription_id: int, paper_id: str) -> DeliveryStatus | None:
        record = await self.delivery_record(subscription_id, paper_id)
        return None if record is None else record.status

    async def delivery_record(self, subscription_id: int, paper_id: str) -> DeliveryRecord | None:
        """The outbox row for one (subscription, paper), with the channel its message went to."""
        row = await self._fetchone(
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
        """Instant deliveries waiting to go out for active subscriptions (paused ones wait for resume)."""
        row = await self._fetchone(
            "SELECT COUNT(*) AS n FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
            "WHERE d.status IN ('pending', 'sending') AND s.status = 'active'"
        )
        return int(row["n"]) if row else 0

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
                       VALUES (:source, :now, :now, 0, 1)
                       ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                           last_success_at = excluded.last_success_at, consecutive_failures = 0,
                           successes = successes + 1, last_error = NULL, next_attempt_at = NULL""",
                    {"source": source, "now": _ts(now)},
                )
                return 0
            async with db.execute(
                """INSERT INTO source_state (source, last_attempt_at, consecutive_failures, last_error)
                   VALUES (:source, :now, 1, :error)
                   ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                       consecutive_failures = consecutive_failures + 1, last_error = excluded.last_error
                   RETURNING consecutive_failures""",
                {"source": source, "now": _ts(now), "error": error},
            ) as cursor:
                row = await cursor.fetchone()
            return int(row["consecutive_failures"]) if row else 1

    async def set_next_attempt(self, source: str, when: datetime | None) -> None:
        """When a backing-off source may be polled again (None: at its normal interval)."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE source_state SET next_attempt_at = :when WHERE source = :source",
                {"when": _ts(when), "source": source},
            )

    async def source_state(self, source: str) -> SourceState | None:
        row = await self._fetchone(
            "SELECT source, last_attempt_at, last_success_at, consecutive_failures, last_error, successes, degraded, "
            "next_attempt_at FROM source_state WHERE source = :source",
            {"source": source},
        )
        if row is None:
            return None
        return SourceState(
            source=row["source"],
            last_attempt_at=_dt(row["last_attempt_at"]),
            last_success_at=_dt(row["last_success_at"]),
            consecutive_failures=row["consecutive_failures"],
            last_error=row["last_error"],
            successes=row["successes"],
            degraded=bool(row["degraded"]),
            next_attempt_at=_dt(row["next_attempt_at"]),
        )

    async def set_source_degraded(self, source: str, degraded: bool) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE source_state SET degraded = :degraded WHERE source = :source",
                {"degraded": int(degraded), "source": source},
            )


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{field}" for field in _PAPER_FIELDS)


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
           SELECT id, :paper_id, CASE kind WHEN 'channel' THEN 'channel' ELSE 'user' END,
                  CASE kind WHEN 'channel' THEN channel_id ELSE user_id END,
                  CASE WHEN :hold AND schedule != 'instant' THEN 'held' ELSE 'pending' END, :now, :now
           FROM subscriptions WHERE id = :subscription_id""",
        [{"paper_id": paper_id, "hold": hold, "now": _ts(now), "subscription_id": sub_id} for sub_id, paper_id in keys],
    )
    return db.total_changes - before


# A list of ids travels as one JSON parameter, so no statement is built per list length.
_IDS = "SELECT value FROM json_each(:ids)"


async def _existing_ids(db: aiosqlite.Connection, ids: Sequence[str]) -> set[str]:
    async with db.execute(f"SELECT id FROM papers WHERE id IN ({_IDS})", {"ids": json.dumps(ids)}) as cursor:
        return {row["id"] for row in await cursor.fetchall()}


async def _papers_by_id(db: aiosqlite.Connection, ids: Sequence[str], first_seen_since: datetime) -> list[Paper]:
    async with db.execute(
        f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id IN ({_IDS}) AND first_seen_at >= :since",
        {"ids": json.dumps(ids), "since": _ts(first_seen_since)},
    ) as cursor:
        return [_paper_from_row(row) for row in await cursor.fetchall()]


# Merge a stored paper with a new listing of it (named parameters as from _paper_params): fill gaps, grow
# upvotes, prefer the HF page as the paper's link. first_seen_at is the store's and never changes.
_MERGE_PAPER = """
    UPDATE papers SET
        title = CASE WHEN :title != '' THEN :title ELSE title END,
        abstract = CASE WHEN :abstract != '' THEN :abstract ELSE abstract END,
        authors = CASE WHEN :authors = '[]' THEN authors ELSE :authors END,
        categories = CASE WHEN :categories = '[]' THEN categories ELSE :categories END,
        url = CASE WHEN :source = 'huggingface' OR url = '' THEN :url ELSE url END,
        pdf_url = COALESCE(pdf_url, :pdf_url), code_url = COALESCE(:code_url, code_url),
        project_url = COALESCE(:project_url, project_url), thumbnail_url = COALESCE(:thumbnail_url, thumbnail_url),
        upvotes = MAX(upvotes, :upvotes), ai_summary = COALESCE(:ai_summary, ai_summary),
        ai_keywords = CASE WHEN :ai_keywords = '[]' THEN ai_keywords ELSE :ai_keywords END,
        published_at = COALESCE(published_at, :published_at), updated_at = :updated_at
    WHERE id = :id"""


def _owner_filter(owner: Owner) -> tuple[str, dict[str, Any]]:
    column = "guild_id" if owner.scope is Scope.GUILD else "user_id"
    return f"s.kind = :owner_kind AND s.{column} = :owner_id", {
        "owner_kind": _SUBSCRIPTION_KIND[owner.scope],
        "owner_id": owner.id,
    }


_PENDING_COLUMNS = (
    "d.subscription_id, d.target_kind, d.target_id, d.attempts, d.nonce, d.attempted_at, "
    "COALESCE(s.guild_id, s.user_id) AS owner_id, " + _prefixed("p")
)


def _pending_from_row(row: aiosqlite.Row) -> PendingDelivery:
    return PendingDelivery(
        subscription_id=row["subscription_id"],
        target=Target(_SCOPE_OF_TARGET_KIND[row["target_kind"]], row["target_id"]),
        attempts=row["attempts"],
        nonce=row["nonce"],
        attempted_at=_dt(row["attempted_at"]),
        owner_id=row["owner_id"],
        paper=_paper_from_row(row),
    )


async def _user_version(db: aiosqlite.Connection) -> int:
    rows = list(await db.execute_fetchall("PRAGMA user_version"))
    return int(rows[0]["user_version"]) if rows else 0


async def _migrate(db: aiosqlite.Connection) -> None:
    version = await _user_version(db)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        log.info("applying database migration %d", number)
        await db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
