"""Subscriptions and alerts, per-owner digest settings, and the DM channels alerts are sent to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from bot.models import DigestSettings, Mode, Owner, Schedule, Scope, Subscription, SubscriptionStatus, Target
from bot.store.connection import AnyDatabase, Row
from bot.store.outbox import queue_deliveries
from bot.store.schema import SCOPE_OF_KIND, SUBSCRIPTION_KIND, dt, ts

_COLUMNS = (
    "s.id, s.kind, s.guild_id, s.channel_id, s.user_id, s.query, s.created_at, s.schedule, s.min_upvotes, "
    "s.last_digest_at, s.status, s.pause_reason, s.forum, s.forum_tags, s.mention_role_id, s.max_per_day, s.mode, "
)
_SUBSCRIPTION_COLUMNS = (
    _COLUMNS
    + "(SELECT COUNT(*) FROM deliveries d WHERE d.subscription_id = s.id AND d.status = 'sent') AS delivered_count"
)
# Counting a subscription's sent deliveries reads every one of them (a million take ~0.4 s), so only what shows
# the count pays for it; autocomplete (asked on every keystroke), explain, loading the index and digests read these.
_UNCOUNTED_COLUMNS = _COLUMNS + "0 AS delivered_count"


def _subscription_from_row(row: Row) -> Subscription:
    return Subscription(
        id=row["id"],
        scope=SCOPE_OF_KIND[row["kind"]],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        query=row["query"],
        created_at=dt(row["created_at"]) or datetime.min.replace(tzinfo=UTC),
        schedule=Schedule(row["schedule"]),
        min_upvotes=row["min_upvotes"],
        last_digest_at=dt(row["last_digest_at"]),
        status=SubscriptionStatus(row["status"]),
        pause_reason=row["pause_reason"],
        delivered_count=row["delivered_count"],
        forum=bool(row["forum"]),
        forum_tags=tuple(json.loads(row["forum_tags"])),
        mention_role_id=row["mention_role_id"],
        max_per_day=row["max_per_day"],
        mode=Mode(row["mode"]),
    )


def _owner_filter(owner: Owner) -> tuple[str, dict[str, Any]]:
    column = "guild_id" if owner.scope is Scope.GUILD else "user_id"
    return f"s.kind = :owner_kind AND s.{column} = :owner_id", {
        "owner_kind": SUBSCRIPTION_KIND[owner.scope],
        "owner_id": owner.id,
    }


def _live_count(owner: Owner) -> tuple[str, dict[str, Any]]:
    """The query counting an owner's live (not removed) subscriptions, and its parameters."""
    where, params = _owner_filter(owner)
    return f"SELECT COUNT(*) AS n FROM subscriptions s WHERE {where} AND s.status != 'removed'", params


_PLAIN_MODE = str(Mode.MATCH)


class StoredQuery(NamedTuple):
    """One active subscription as the index loads it (:meth:`SubscriptionQueries.indexing_page`)."""

    id: int
    query: str
    compiled: str | None
    subscription: Subscription | None  # only when more than the query decides what it gets


_NO_LIMIT = 2**62  # LIMIT -1 means "all" to SQLite only


class SubscriptionQueries:
    """The subscriptions, digest settings and DM channels of :class:`bot.store.Store`."""

    _db: AnyDatabase

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
        forum: bool = False,
        forum_tags: Sequence[int] = (),
        mention_role_id: int | None = None,
        max_per_day: int = 0,
        mode: Mode = Mode.MATCH,
        cap: int | None = None,
        on_created: Callable[[Subscription], None] | None = None,
    ) -> Subscription | None:
        """Create a channel subscription or an alert, and queue ``backfill`` paper ids for it, atomically.

        ``forum``: the channel is a forum, where each paper becomes a post tagged with ``forum_tags``.
        With ``cap``, returns None (creating nothing) when the owner already has that many: counted inside the
        write transaction, so adds racing each other cannot pass it together. ``on_created`` runs inside the
        transaction too; if it raises, nothing is stored.
        """
        owner = Owner.guild(guild_id) if scope is Scope.GUILD and guild_id is not None else Owner.user(user_id)
        async with self._db.transaction() as db:
            if cap is not None:
                await self._db.dialect.serialize(db, f"owner:{owner.scope.name}:{owner.id}")
                async with db.execute(*_live_count(owner)) as counted:
                    row = await counted.fetchone()
                if row is not None and row["n"] >= cap:
                    return None
            inserted = await db.execute(
                "INSERT INTO subscriptions (kind, guild_id, channel_id, user_id, query, schedule, min_upvotes, "
                "created_at, forum, forum_tags, mention_role_id, max_per_day, mode) VALUES (:kind, :guild_id, "
                ":channel_id, :user_id, :query, :schedule, :min_upvotes, :now, :forum, :forum_tags, :mention_role_id, "
                ":max_per_day, :mode) RETURNING id",
                {
                    "kind": SUBSCRIPTION_KIND[scope],
                    "guild_id": guild_id,
                    "channel_id": channel_id,
                    "user_id": user_id,
                    "query": query,
                    "schedule": str(schedule),
                    "min_upvotes": min_upvotes,
                    "mention_role_id": mention_role_id,
                    "max_per_day": max_per_day,
                    "now": ts(now),
                    "forum": forum,
                    "forum_tags": json.dumps(list(forum_tags)),
                    "mode": str(mode),
                },
            )
            id_row = await inserted.fetchone()
            assert id_row is not None
            sub_id = int(id_row["id"])
            await queue_deliveries(db, [(sub_id, paper_id) for paper_id in backfill], now, hold=False)
            async with db.execute(
                f"SELECT {_UNCOUNTED_COLUMNS} FROM subscriptions s WHERE s.id = :id", {"id": sub_id}
            ) as created:
                row = await created.fetchone()
            assert row is not None
            sub = _subscription_from_row(row)
            if on_created is not None:
                on_created(sub)
        return sub

    async def count_subscriptions(self, owner: Owner) -> int:
        """Live (not removed) subscriptions of a server, or alerts of a user."""
        row = await self._db.fetchone(*_live_count(owner))
        return int(row["n"]) if row else 0

    async def list_subscriptions(
        self, owner: Owner, channel_id: int | None = None, *, counted: bool = True
    ) -> list[Subscription]:
        """A server's subscriptions (optionally one channel's) or a user's alerts, oldest first.

        ``counted=False`` leaves ``delivered_count`` at 0 and reads no deliveries (cheap at any outbox size)."""
        where, params = _owner_filter(owner)
        columns = _SUBSCRIPTION_COLUMNS if counted else _UNCOUNTED_COLUMNS
        sql = f"SELECT {columns} FROM subscriptions s WHERE {where} AND s.status != 'removed'"
        if channel_id is not None:
            sql += " AND s.channel_id = :channel_id"
            params = {**params, "channel_id": channel_id}
        rows = await self._db.fetchall(sql + " ORDER BY s.id", params)
        return [_subscription_from_row(r) for r in rows]

    async def get_subscription(self, owner: Owner, subscription_id: int) -> Subscription | None:
        """One of *this owner's* subscriptions; another server's or user's id reads as not found."""
        where, params = _owner_filter(owner)
        row = await self._db.fetchone(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions s "
            f"WHERE s.id = :id AND {where} AND s.status != 'removed'",
            {**params, "id": subscription_id},
        )
        return None if row is None else _subscription_from_row(row)

    async def active_subscriptions(self, after: int = 0, limit: int = -1) -> list[Subscription]:
        """Active subscriptions and alerts by id, those with ids above ``after``, at most ``limit`` (-1: all);
        ``delivered_count`` is not read (0).

        Page through many with ``after`` = the last id seen, so they are never all in memory at once.
        """
        rows = await self._db.fetchall(
            f"SELECT {_UNCOUNTED_COLUMNS} FROM subscriptions s WHERE s.status = 'active' AND s.id > :after "
            "ORDER BY s.id LIMIT :limit",
            {"after": after, "limit": limit if limit >= 0 else _NO_LIMIT},
        )
        # Converted in a worker thread: a page of 2,000 (loading the index at start) takes ~50 ms of Python.
        return await asyncio.to_thread(lambda: [_subscription_from_row(r) for r in rows])

    async def indexing_page(self, after: int, limit: int) -> list[StoredQuery]:
        """What indexing needs of the active subscriptions with ids above ``after`` (at most ``limit``, by id): the
        query text and its compiled form (:mod:`bot.matching.compiled`; None until first written), and the whole
        Subscription only for those whose query alone does not decide (a ``min_upvotes`` threshold, recommend mode).

        Building a Subscription per row would cost a restarted bot seconds per million subscriptions.
        """
        rows = await self._db.fetchall(
            "SELECT s.id, s.query, f.form, s.mode, s.min_upvotes FROM subscriptions s "
            "LEFT JOIN query_forms f ON f.subscription_id = s.id WHERE s.status = 'active' AND s.id > :after "
            "ORDER BY s.id LIMIT :limit",
            {"after": after, "limit": limit},
        )
        plain = [row["mode"] == _PLAIN_MODE and not row["min_upvotes"] for row in rows]
        whole = {}
        if not all(plain):
            whole = {
                row["id"]: _subscription_from_row(row)
                for row in await self._db.fetchall(
                    f"SELECT {_UNCOUNTED_COLUMNS} FROM subscriptions s WHERE s.id > :after AND s.id <= :last "
                    "AND (s.mode != :plain OR s.min_upvotes > 0)",
                    {"after": after, "last": rows[-1]["id"], "plain": _PLAIN_MODE},
                )
            }
        # Whatever the second read sees (a subscription paused in between, say) is what the first one saw, as far
        # as indexing goes: a query, its mode and threshold never change, and rows are never deleted; the pause's
        # own notification re-reads the subscription once the load is done.
        return [
            StoredQuery(row["id"], row["query"], row["form"], None if query_alone else whole[row["id"]])
            for row, query_alone in zip(rows, plain, strict=True)
        ]

    async def save_compiled(self, forms: Sequence[tuple[int, str]]) -> None:
        """Store the compiled forms of subscriptions' queries: (subscription id, form). In ``query_forms``, not in
        ``subscriptions``: on PostgreSQL every change to a subscription row notifies every process to re-read it."""
        if not forms:
            return
        async with self._db.transaction() as db:
            await db.executemany(
                "INSERT INTO query_forms (subscription_id, form) VALUES (:id, :form) "
                "ON CONFLICT (subscription_id) DO UPDATE SET form = excluded.form",
                [{"id": sub_id, "form": form} for sub_id, form in forms],
            )

    async def digest_subscriptions(self) -> list[Subscription]:
        """Active subscriptions and alerts on a daily or weekly schedule, and instant ones with a daily cap (their
        overflow goes out at the digest time); ``delivered_count`` not read: 0."""
        rows = await self._db.fetchall(
            f"SELECT {_UNCOUNTED_COLUMNS} FROM subscriptions s "
            "WHERE s.status = 'active' AND (s.schedule != 'instant' OR s.max_per_day > 0) ORDER BY s.id"
        )
        return [_subscription_from_row(r) for r in rows]

    async def set_subscription_status(
        self, owner: Owner, subscription_id: int, status: SubscriptionStatus, reason: str | None = None
    ) -> bool:
        """Pause, resume or remove one of this owner's subscriptions; False when it is not found."""
        where, params = _owner_filter(owner)
        async with self._db.transaction() as db:
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
            self._db.transaction() as db,
            db.execute(
                f"UPDATE subscriptions SET status = 'paused', pause_reason = :reason "
                f"WHERE {column} = :target_id AND kind = :kind AND status = 'active' RETURNING id",
                {"reason": reason, "target_id": target.id, "kind": SUBSCRIPTION_KIND[target.scope]},
            ) as cursor,
        ):
            return sorted(row["id"] for row in await cursor.fetchall())

    async def set_last_digest(self, subscription_id: int, period_end: datetime) -> None:
        """Record the end of the period the last digest covered."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE subscriptions SET last_digest_at = :period_end WHERE id = :id",
                {"period_end": ts(period_end), "id": subscription_id},
            )

    # -- digest settings ------------------------------------------------------------------------------

    async def digest_settings(self, owner: Owner) -> DigestSettings:
        """An owner's digest settings; the defaults until they save some."""
        row = await self._db.fetchone(
            "SELECT timezone, digest_time, weekly_day FROM digest_settings "
            "WHERE scope = :scope AND owner_id = :owner_id",
            {"scope": str(owner.scope), "owner_id": owner.id},
        )
        if row is None:
            return DigestSettings()
        return DigestSettings(row["timezone"], row["digest_time"], row["weekly_day"])

    async def save_digest_settings(self, owner: Owner, settings: DigestSettings) -> None:
        """Save an owner's digest settings, replacing any earlier ones."""
        async with self._db.transaction() as db:
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
        """The DM channel already opened with a user, if any."""
        row = await self._db.fetchone(
            "SELECT channel_id FROM dm_channels WHERE user_id = :user_id", {"user_id": user_id}
        )
        return None if row is None else int(row["channel_id"])

    async def save_dm_channel(self, user_id: int, channel_id: int, now: datetime) -> None:
        """Remember the DM channel opened with a user."""
        async with self._db.transaction() as db:
            await db.execute(
                "INSERT INTO dm_channels (user_id, channel_id, opened_at) VALUES (:user_id, :channel_id, :now) "
                "ON CONFLICT (user_id) DO UPDATE SET channel_id = excluded.channel_id, opened_at = excluded.opened_at",
                {"user_id": user_id, "channel_id": channel_id, "now": ts(now)},
            )
