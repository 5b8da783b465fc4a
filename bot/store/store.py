"""The ``Store`` facade: paperbot's persistence, the only place that speaks SQL.

``Store`` is composed of one mixin per part of the schema (papers, subscriptions and settings, outbox,
sources, feedback) over one shared :class:`~bot.store.connection.Database`. Mixins rather than repository objects
behind delegating methods: callers keep calling ``store.get_paper(...)`` and every signature is written
once. No mixin calls another's methods; the one cross-table write (queueing deliveries, from ingest and
from a backfilled subscription) is a function of the transaction's connection in ``outbox``.
"""

from __future__ import annotations

from bot.store.connection import AnyDatabase, Database
from bot.store.feedback import FeedbackQueries
from bot.store.matches import MatchQueries
from bot.store.outbox import OutboxQueries
from bot.store.papers import PaperQueries
from bot.store.postgres.database import PgDatabase
from bot.store.profiles import ProfileQueries
from bot.store.retention import RetentionQueries
from bot.store.sources import SourceQueries
from bot.store.subscriptions import SubscriptionQueries


def is_postgres_url(location: str) -> bool:
    """Whether a storage location names a PostgreSQL server rather than a SQLite file."""
    return location.startswith(("postgresql://", "postgres://"))


class Store(
    PaperQueries,
    SubscriptionQueries,
    OutboxQueries,
    MatchQueries,
    SourceQueries,
    FeedbackQueries,
    ProfileQueries,
    RetentionQueries,
):
    """Async access to paperbot's database (SQLite, or PostgreSQL). Create with :meth:`open`."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db
        self.path = db.path
        self.coordination = db.coordination  # what this process alone does (always everything on SQLite)

    @classmethod
    async def open(cls, path: str) -> Store:
        """Open (creating if needed) the database at ``path`` — a SQLite file, or a ``postgresql://`` URL — and
        apply pending migrations."""
        if is_postgres_url(path):
            return cls(await PgDatabase.open(path))
        return cls(await Database.open(path))

    async def close(self) -> None:
        """Close the database connections."""
        await self._db.close()

    async def schema_version(self) -> int:
        """The number of migrations applied."""
        return await self._db.schema_version()
