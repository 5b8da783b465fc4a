"""How a process learns what it alone should do: the leader's work (polling, matching, digests), and which
outbox rows are its to send. With SQLite there is one process, so it does everything; the PostgreSQL driver's
:class:`bot.store.postgres.session.Session` coordinates several processes through the database."""

from __future__ import annotations

from collections.abc import Callable


class Coordination:
    """A single process: always the leader, the only one changing subscriptions, claiming nothing."""

    clustered = False

    async def is_leader(self) -> bool:
        """Whether this process should poll, match and send digests now."""
        return True

    async def claimer(self) -> int:
        """This process's mark on the outbox rows it claims (0: claims are not needed)."""
        return 0

    def on_subscription_change(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(subscription_id)`` when any process changes a subscription (never, here)."""

    async def close(self) -> None:
        """Release what this process holds."""
