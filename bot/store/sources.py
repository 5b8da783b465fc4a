"""Per-source polling state: successes, consecutive failures, back-off, degraded."""

from __future__ import annotations

from datetime import datetime

from bot.models import SourceState
from bot.store.connection import AnyDatabase
from bot.store.schema import dt, ts


class SourceQueries:
    """The source-state part of :class:`bot.store.Store`."""

    _db: AnyDatabase

    async def record_source_result(self, source: str, now: datetime, error: str | None) -> int:
        """Record a poll's outcome (``error`` None: it succeeded); returns the consecutive failures."""
        async with self._db.transaction() as db:
            if error is None:
                await db.execute(
                    """INSERT INTO source_state (source, last_attempt_at, last_success_at, consecutive_failures,
                                               successes)
                       VALUES (:source, :now, :now, 0, 1)
                       ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                           last_success_at = excluded.last_success_at, consecutive_failures = 0,
                           successes = source_state.successes + 1, last_error = NULL, next_attempt_at = NULL""",
                    {"source": source, "now": ts(now)},
                )
                return 0
            async with db.execute(
                """INSERT INTO source_state (source, last_attempt_at, consecutive_failures, last_error)
                   VALUES (:source, :now, 1, :error)
                   ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                       consecutive_failures = source_state.consecutive_failures + 1, last_error = excluded.last_error
                   RETURNING consecutive_failures""",
                {"source": source, "now": ts(now), "error": error},
            ) as cursor:
                row = await cursor.fetchone()
            return int(row["consecutive_failures"]) if row else 1

    async def set_next_attempt(self, source: str, when: datetime | None) -> None:
        """When a backing-off source may be polled again (None: at its normal interval)."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE source_state SET next_attempt_at = :when WHERE source = :source",
                {"when": ts(when), "source": source},
            )

    async def source_state(self, source: str) -> SourceState | None:
        """One source's polling record; None before its first poll."""
        row = await self._db.fetchone(
            "SELECT source, last_attempt_at, last_success_at, consecutive_failures, last_error, successes, degraded, "
            "next_attempt_at FROM source_state WHERE source = :source",
            {"source": source},
        )
        if row is None:
            return None
        return SourceState(
            source=row["source"],
            last_attempt_at=dt(row["last_attempt_at"]),
            last_success_at=dt(row["last_success_at"]),
            consecutive_failures=row["consecutive_failures"],
            last_error=row["last_error"],
            successes=row["successes"],
            degraded=bool(row["degraded"]),
            next_attempt_at=dt(row["next_attempt_at"]),
        )

    async def set_source_degraded(self, source: str, degraded: bool) -> None:
        """Mark a source degraded (it crossed the failure threshold) or recovered."""
        async with self._db.transaction() as db:
            await db.execute(
                "UPDATE source_state SET degraded = :degraded WHERE source = :source",
                {"degraded": int(degraded), "source": source},
            )
