"""Upgrades: a database made by every earlier release's migrations, full of real rows, is upgraded by today's
code and the bot then runs on it with every row intact (no redelivery, digests still due).

Every migration gets its own case automatically (``range(1, len(MIGRATIONS) + 1)``). A migration that changes
what rows look like (a new NOT NULL column, a renamed table) registers a builder in ``BUILDERS`` for its
version: the database for version k is filled by the builder of the highest registered version <= k.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.matching import parse_query
from bot.store import Store
from bot.store.fts import SQL_FUNCTIONS
from bot.store.migrations import MIGRATIONS
from tests.e2e.conftest import World, arxiv_ids


@dataclass(frozen=True)
class Ids:
    """The loopback world's ids the rows refer to, and the moment the old release 'stopped'."""

    guild: int
    channel: int
    digest_channel: int
    moderator: int
    member: int
    now: datetime

    def ago(self, **delta: float) -> str:
        return (self.now - timedelta(**delta)).isoformat(timespec="microseconds")


SENT = ("2401.00001", "2401.00002")  # sent to #1 in an earlier life: must never be posted again
PENDING = ("2401.00003", "2401.00004")  # queued for #1 (and 00003 for alert #3): delivered once after the upgrade
DIGEST = ("2401.00005", "2401.00006")  # held for the daily digest #2, which is due
FAILED = "2401.00007"  # given up on for #1: stays failed
PAPERS = (*SENT, *PENDING, *DIGEST, FAILED)


def build_v1(db: sqlite3.Connection, ids: Ids) -> None:
    """Rows as release 1's schema holds them: papers, every kind of subscription, outbox rows in every state."""
    for n, paper_id in enumerate(PAPERS):
        db.execute(
            "INSERT INTO papers (id, title, abstract, authors, categories, source, url, upvotes, ai_keywords, "
            "first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, 'huggingface', ?, ?, '[]', ?, ?)",
            (
                paper_id,
                f"Upgrade paper {n}: attention in long context",
                "We study attention sinks in long-context language models.",
                json.dumps(["Ada Lovelace", "Alan Turing"]),
                json.dumps(["cs.CL"]),
                f"https://huggingface.co/papers/{paper_id}",
                n,
                ids.ago(hours=20 - n),
                ids.ago(hours=20 - n),
            ),
        )
    subscriptions = [
        # id, kind, guild, channel, user, schedule, min_upvotes, status, last_digest_at
        (1, "channel", ids.guild, ids.channel, ids.moderator, "instant", 0, "active", None),
        (2, "channel", ids.guild, ids.digest_channel, ids.moderator, "daily", 0, "active", ids.ago(days=2)),
        (3, "alert", None, None, ids.member, "instant", 0, "active", None),
        (4, "alert", None, None, ids.member, "weekly", 0, "active", ids.ago(minutes=5)),
        (5, "channel", ids.guild, ids.channel, ids.moderator, "instant", 0, "paused", None),
        (6, "channel", ids.guild, ids.channel, ids.moderator, "instant", 0, "removed", None),
        (7, "alert", None, None, ids.member, "instant", 50, "active", None),
    ]
    for sub_id, kind, guild, channel, user, schedule, min_upvotes, status, last_digest in subscriptions:
        db.execute(
            "INSERT INTO subscriptions (id, kind, guild_id, channel_id, user_id, query, schedule, min_upvotes, "
            "created_at, last_digest_at, status, pause_reason) VALUES (?, ?, ?, ?, ?, 'attention', ?, ?, ?, ?, ?, ?)",
            (
                sub_id,
                kind,
                guild,
                channel,
                user,
                schedule,
                min_upvotes,
                ids.ago(days=5),
                last_digest,
                status,
                "paused by a moderator" if status == "paused" else None,
            ),
        )
    outbox = [
        *((1, p, "channel", ids.channel, "sent", 900001) for p in SENT),
        *((1, p, "channel", ids.channel, "pending", None) for p in PENDING),
        (3, PENDING[0], "user", ids.member, "pending", None),
        *((2, p, "channel", ids.digest_channel, "held", None) for p in DIGEST),
        (4, DIGEST[0], "user", ids.member, "held", None),
        (5, PENDING[1], "channel", ids.channel, "pending", None),
        (1, FAILED, "channel", ids.channel, "failed", None),
    ]
    for sub_id, paper_id, target_kind, target_id, status, message_id in outbox:
        db.execute(
            "INSERT INTO deliveries (subscription_id, paper_id, target_kind, target_id, status, message_id, "
            "created_at, next_attempt_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sub_id,
                paper_id,
                target_kind,
                target_id,
                status,
                message_id,
                ids.ago(hours=1),
                ids.ago(hours=1),
                ids.ago(hours=1) if status == "sent" else None,
            ),
        )
    db.execute(
        "INSERT INTO digest_settings (scope, owner_id, timezone, digest_time, weekly_day) "
        "VALUES ('guild', ?, 'Europe/Berlin', '08:30', 2)",
        (ids.guild,),
    )
    db.execute(
        "INSERT INTO digest_settings (scope, owner_id, timezone, digest_time, weekly_day) "
        "VALUES ('user', ?, 'America/New_York', '07:00', 4)",
        (ids.member,),
    )
    # A source that has polled before: the next poll is not a first, catalogue-only one.
    db.execute(
        "INSERT INTO source_state (source, last_attempt_at, last_success_at, successes) "
        "VALUES ('huggingface', ?, ?, 40)",
        (ids.ago(hours=1), ids.ago(hours=1)),
    )


#: Fixture builders by the schema version they write. Add one when a migration changes what rows look like.
BUILDERS: dict[int, Callable[[sqlite3.Connection, Ids], None]] = {1: build_v1}


def build_database(path: Path, version: int, ids: Ids) -> None:
    """A database as the release with ``version`` migrations left it, full of rows."""
    builder = BUILDERS[max(v for v in BUILDERS if v <= version)]
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for name, function in SQL_FUNCTIONS.items():  # what the search triggers call (from migration 10 on)
            db.create_function(name, 1, function, deterministic=True)
        for number, script in enumerate(MIGRATIONS[:version], start=1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        db.execute("BEGIN")
        builder(db, ids)
        db.execute("COMMIT")


def snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The rows that must survive an upgrade unchanged."""
    with closing(sqlite3.connect(path)) as db:
        return {
            "papers": db.execute("SELECT id, title, upvotes, first_seen_at FROM papers ORDER BY id").fetchall(),
            "subscriptions": db.execute(
                "SELECT id, kind, guild_id, channel_id, user_id, schedule, min_upvotes, status, created_at "
                "FROM subscriptions ORDER BY id"
            ).fetchall(),
            "digest_settings": db.execute("SELECT * FROM digest_settings ORDER BY scope").fetchall(),
            "sent": db.execute(
                "SELECT subscription_id, paper_id, message_id FROM deliveries WHERE status = 'sent' AND message_id "
                "= 900001 ORDER BY 1, 2"
            ).fetchall(),
        }


def statuses(path: Path) -> dict[tuple[int, str], str]:
    with closing(sqlite3.connect(path)) as db:
        return {(s, p): st for s, p, st in db.execute("SELECT subscription_id, paper_id, status FROM deliveries")}


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS) + 1))
async def test_database_from_every_release_upgrades_and_runs_with_rows_intact(world: World, version: int):
    ids = Ids(
        world.guild_id, world.channel_id, world.other_channel_id, world.moderator_id, world.member_id, datetime.now(UTC)
    )
    build_database(world.db_path, version, ids)
    before = snapshot(world.db_path)
    bot = await world.start_bot()
    assert await bot.store.schema_version() == len(MIGRATIONS)
    await world.polls_completed(1)

    # Pending rows go out once; the due daily digest goes out with its held papers.
    (message,) = await world.emulator.wait_for_messages(world.channel_id, 1, timeout=15)
    assert sorted(arxiv_ids([message])) == sorted(PENDING)
    (digest,) = await world.emulator.wait_for_messages(world.other_channel_id, 1, timeout=15)
    assert all(p in json.dumps(digest["embeds"]) for p in DIGEST)
    await world.wait_until(lambda: world.emulator.dm_channel_id(world.member_id) is not None, timeout=10)
    dm = world.emulator.dm_channel_id(world.member_id)
    assert dm is not None
    (alert,) = await world.emulator.wait_for_messages(dm, 1, timeout=15)
    assert arxiv_ids([alert]) == [PENDING[0]]
    await world.outbox_drained()
    await world.polls_completed(1)  # another full cycle: anything re-sent would show now
    await world.stop_bot()

    assert len(world.emulator.messages(world.channel_id)) == 1  # SENT papers never again, nothing twice
    assert len(world.emulator.messages(world.other_channel_id)) == 1
    assert len(world.emulator.messages(dm)) == 1
    after = statuses(world.db_path)
    assert {p: after[(1, p)] for p in (*SENT, *PENDING)} == dict.fromkeys((*SENT, *PENDING), "sent")
    assert after[(2, DIGEST[0])] == after[(2, DIGEST[1])] == "sent"
    assert after[(4, DIGEST[0])] == "held"  # the weekly alert's digest is not due yet: still waiting for it
    assert after[(5, PENDING[1])] == "pending"  # paused: waits for resume
    assert after[(1, FAILED)] == "failed"
    assert snapshot(world.db_path) == before  # papers, subscriptions, settings and sent rows all intact
    store = await Store.open(str(world.db_path))  # the search indexes hold the old papers too
    try:
        found = await store.search_papers(parse_query("ti:attention").root, 50)
        assert found is not None and set(PAPERS) <= {p.id for p, _ in found}
        in_category = await store.papers_in_categories(parse_query("cat:cs.CL").root, 50)
        assert in_category is not None and set(PAPERS) <= {p.id for p in in_category}
    finally:
        await store.close()


def test_database_from_a_newer_release_is_refused_with_one_line(tmp_path: Path, capsys, monkeypatch):
    db = tmp_path / "paperbot.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\npath = "{db}"\n')
    monkeypatch.setenv("DISCORD_TOKEN", "not-used: the database is refused before connecting")
    for command in ("run", "check"):
        assert main([command, "--config", str(config)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert f"schema version {len(MIGRATIONS) + 1}" in err[0] and "newer release" in err[0], err
    with closing(sqlite3.connect(db)) as conn:  # nothing was changed
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
