"""``paperbot backup`` and ``paperbot check --database``: copy a live database safely, and verify a file.

The copy uses SQLite's online backup API in one step: it reads one consistent snapshot (WAL lets the bot keep
writing meanwhile) and never sees a half-written transaction. It is written beside the destination and renamed
into place only after ``PRAGMA integrity_check`` passes, so a failed or interrupted backup never leaves a file
that looks like a good one.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bot.store.migrations import MIGRATIONS


class BackupError(Exception):
    """The backup could not be made; the message says why."""


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What ``paperbot check --database`` found in a file."""

    path: str
    problems: tuple[str, ...]  # integrity_check's complaints; empty when the file is sound
    schema_version: int
    papers: int
    subscriptions: int
    deliveries: int

    @property
    def schema_verdict(self) -> str:
        """Whether this paperbot can run on the file as it is, after upgrading it, or not at all."""
        current = len(MIGRATIONS)
        if self.schema_version == current:
            return "current"
        if self.schema_version < current:
            return f"older: upgraded to v{current} when the bot starts on it"
        return f"NEWER than this paperbot (v{current}): it will refuse to start on it"

    @property
    def ok(self) -> bool:
        """Sound and usable by this paperbot."""
        return not self.problems and self.schema_version <= len(MIGRATIONS)


def _connect_existing(path: str | os.PathLike[str], *, read_only: bool) -> sqlite3.Connection:
    """A connection to a database file that must already exist (never creates an empty one)."""
    if not Path(path).is_file():
        raise BackupError(f"{path}: no such database file")
    mode = "ro" if read_only else "rw"
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode={mode}", uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _integrity(conn: sqlite3.Connection) -> tuple[str, ...]:
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return () if rows == ["ok"] else tuple(rows)


def backup_database(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> FileCheck:
    """Copy the database at ``source`` (the bot may be running) to ``destination``, verified; returns its check."""
    target = Path(destination)
    if target.is_dir():
        raise BackupError(f"{destination}: is a folder; give a file name, e.g. {target / 'paperbot-backup.db'}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(_connect_existing(source, read_only=False)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)  # pages=-1: the whole file in one step, one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
            problems = _integrity(dst)
        if problems:
            raise BackupError(f"the copy failed integrity_check: {'; '.join(problems[:5])}")
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"could not back up {source}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return verify_database(target)


def verify_database(path: str | os.PathLike[str]) -> FileCheck:
    """Check a database file without changing it: integrity, schema version, and what it holds."""
    try:
        with closing(_connect_existing(path, read_only=True)) as conn:
            problems = _integrity(conn)
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

            def count(table: str) -> int:
                return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) if table in tables else 0

            return FileCheck(str(path), problems, version, count("papers"), count("subscriptions"), count("deliveries"))
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from exc
