"""``paperbot backup`` while another process writes continuously, and ``paperbot check --database``."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from bot.__main__ import main
from bot.ops.backup import verify_database
from bot.store import Store
from bot.store.fts import SQL_FUNCTIONS
from bot.store.migrations import MIGRATIONS

BATCH = 20

# Each transaction adds BATCH papers and counts the batch in source_state, as the bot's ingest does: a consistent
# snapshot holds exactly BATCH * successes papers.
WRITER = f"""
import sqlite3, sys, time
from bot.store.fts import SQL_FUNCTIONS
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
for name, function in SQL_FUNCTIONS.items():  # what the papers' search triggers call
    db.create_function(name, 1, function, deterministic=True)
db.execute("PRAGMA synchronous=FULL")
db.execute("PRAGMA busy_timeout=30000")
db.execute("INSERT INTO source_state (source, successes) VALUES ('writer', 0)")
deadline = time.monotonic() + 60
batch = 0
while time.monotonic() < deadline and not __import__("os").path.exists(sys.argv[2]):
    batch += 1
    db.execute("BEGIN IMMEDIATE")
    for i in range({BATCH}):
        db.execute(
            "INSERT INTO papers (id, title, abstract, source, first_seen_at, updated_at) "
            "VALUES (?, ?, ?, 'writer', '2026-01-01', '2026-01-01')",
            (f"w-{{batch}}-{{i}}", f"title {{batch}} {{i}} attention", "abstract " * 40),
        )
    db.execute("UPDATE source_state SET successes = ? WHERE source = 'writer'", (batch,))
    db.execute("COMMIT")
"""


def _consistent(path: Path, check_fts: bool = True) -> tuple[int, int]:
    with closing(sqlite3.connect(path, timeout=30)) as db:
        papers = db.execute("SELECT COUNT(*) FROM papers WHERE source = 'writer'").fetchone()[0]
        batches = db.execute("SELECT COALESCE(MAX(successes), 0) FROM source_state WHERE source = 'writer'").fetchone()
        if check_fts:  # a write (it takes the write lock): on the copies, not on the live file the writer holds
            db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('integrity-check')")  # raises if FTS is off
    return papers, batches[0]


def _config(tmp_path: Path, db: Path) -> str:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\npath = "{db}"\n')
    return str(config)


def test_backup_during_continuous_writes_is_a_verified_consistent_snapshot(tmp_path, capsys):
    live = tmp_path / "live.db"

    async def create() -> None:
        await (await Store.open(str(live))).close()

    asyncio.run(create())
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(live), str(stop)])
    config = _config(tmp_path, live)
    seen = []
    try:
        deadline = time.monotonic() + 30
        while _consistent(live, check_fts=False)[1] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the writer is writing
        while len(seen) < 5 and time.monotonic() < deadline:
            copy = tmp_path / f"backup-{len(seen)}.db"
            assert main(["backup", copy.as_posix(), "--config", config]) == 0
            assert "integrity ok" in capsys.readouterr().out
            check = verify_database(copy)
            assert check.ok and check.schema_version == len(MIGRATIONS)
            papers, batches = _consistent(copy)
            assert papers == BATCH * batches, (papers, batches)  # no transaction half in the copy
            seen.append(batches)
            time.sleep(0.1)
    finally:
        stop.touch()
        writer.wait(30)
    assert writer.returncode == 0
    final = _consistent(live)[1]
    assert len(seen) == 5 and seen == sorted(seen) and seen[0] > 0 and seen[-1] < final, (seen, final)
    assert not list(tmp_path.glob(".*.partial"))  # no half-written copy left behind
    print(f"5 backups during writes saw batches {seen} of {final}")


def test_check_database_verifies_without_changing_the_file(tmp_path, capsys):
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old, isolation_level=None)) as db:
        db.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    digest = hashlib.sha256(old.read_bytes()).hexdigest()
    assert main(["check", "--database", str(old)]) == 0
    out = capsys.readouterr().out
    assert "integrity ok" in out and "schema v1 (older: upgraded" in out, out
    assert hashlib.sha256(old.read_bytes()).hexdigest() == digest  # verified, not migrated

    newer = tmp_path / "newer.db"
    with closing(sqlite3.connect(newer)) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    assert main(["check", "--database", str(newer)]) == 1
    assert "NEWER than this paperbot" in capsys.readouterr().out

    assert main(["check", "--database", str(tmp_path / "missing.db")]) == 2
    assert "no such database file" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()


def test_check_database_reports_a_damaged_file(tmp_path, capsys):
    path = tmp_path / "damaged.db"

    async def fill() -> None:
        store = await Store.open(str(path))
        await store.close()

    asyncio.run(fill())
    with closing(sqlite3.connect(path)) as db:
        for name, function in SQL_FUNCTIONS.items():  # what the papers' search triggers call
            db.create_function(name, 1, function, deterministic=True)
        db.execute("PRAGMA journal_mode=DELETE")
        db.executemany(
            "INSERT INTO papers (id, title, abstract, source, first_seen_at, updated_at) "
            "VALUES (?, 'a title', ?, 'x', '2026-01-01', '2026-01-01')",
            [(f"p{i}", "words " * 50) for i in range(400)],
        )
        db.commit()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 3, min(len(data), page * 12), page):  # scribble over b-tree pages
        data[offset : offset + 16] = b"\x0d" + b"\xff" * 15
    path.write_bytes(bytes(data))
    code = main(["check", "--database", str(path)])
    captured = capsys.readouterr()
    assert code != 0, captured.out
    assert "FAILED" in captured.out or "not a readable SQLite database" in captured.err, captured


def test_backup_of_a_postgresql_database_points_to_pg_dump(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('[storage]\nurl = "postgresql://paperbot:hunter2@127.0.0.1:9/paperbot"\n')
    assert main(["backup", "--config", str(tmp_path / "c.toml"), str(tmp_path / "copy.db")]) == 2
    err = capsys.readouterr().err
    assert "pg_dump" in err and "hunter2" not in err
    assert not (tmp_path / "copy.db").exists()
