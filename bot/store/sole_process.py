"""One bot process per SQLite file at a time.

Several processes writing one SQLite file would each poll, match and send on their own (no leader, no shared
index, no row claiming): doubles and gaps. Processes may take turns on a file (stop one, start another, e.g.
moving shards), but running them together needs a database made for it (PostgreSQL). ``paperbot run`` holds an
exclusive lock on ``<database>.lock`` (``flock``: released by the OS when the process ends, even by ``kill -9``)
and a second process on the same file stops with a message instead of starting.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class DatabaseInUse(Exception):
    """Another paperbot process is running on this SQLite file."""


@contextmanager
def sole_process(db_path: str) -> Iterator[None]:
    """Hold the lock on ``db_path``'s lock file while the bot runs; DatabaseInUse when another process holds it.
    Nothing to hold for a PostgreSQL URL: several processes share that database by design."""
    if sys.platform == "win32" or db_path.startswith(("postgresql://", "postgres://")):  # Windows: no flock
        yield
        return
    import fcntl

    lock_path = f"{db_path}.lock"
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(
                f"storage.path: another paperbot process is running on {db_path!r} (it holds {lock_path!r}). A "
                "SQLite file serves one process at a time; to run several processes (shards) at once, use "
                "PostgreSQL (see README, 'Sharding')"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
