"""The ``Store`` facade: paperbot's persistence, the only place that speaks SQL.

``Store`` is composed of one mixin per part of the schema (papers, subscriptions and settings, outbox,
sources) over one shared :class:`~bot.store.connection.Database`. Mixins rather than repository objects
behind delegating methods: callers keep calling ``store.get_paper(...)`` and every signature is written
once. No mixin calls another's methods; the one cross-table write (queueing deliveries, from ingest and
from a backfilled subscription) is a function of the transaction's connection in ``outbox``.
"""

from __future__ import annotations

from bot.store.connection import Database
from bot.store.outbox import OutboxQueries
from bot.store.papers import PaperQueries
from bot.store.retention import RetentionQueries
from bot.store.sources import SourceQueries
from bot.store.subscriptions import SubscriptionQueries


class Store(PaperQueries, SubscriptionQueries, OutboxQueries, SourceQueries, RetentionQueries):
    """Async access to paperbot's SQLite database. Create with :meth:`open`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.path = db.path

    @classmethod
    async def open(cls, path: str) -> Store:
        """Open (creating if needed) the database at ``path`` and apply pending migrations."""
        return cls(await Database.open(path))

    async def close(self) -> None:
        """Close the database connections."""
        await self._db.close()

    async def schema_version(self) -> int:
        """The number of migrations applied."""
        return await self._db.schema_version()
