"""The PostgreSQL driver's own parts: its migrations line up with SQLite's, and named parameters translate."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.store import Store
from bot.store.migrations import MIGRATIONS
from bot.store.postgres.database import redact, translate
from bot.store.postgres.migrations import PG_MIGRATIONS


def test_every_sqlite_migration_has_its_postgresql_counterpart():
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)


def test_named_parameters_become_numbered_once_each_and_literals_and_casts_stay():
    sql, names = translate("SELECT :a, ':b', CAST(:c AS jsonb), x::text, '12:30' WHERE y = :a")
    assert sql == "SELECT $1, ':b', CAST($2 AS jsonb), x::text, '12:30' WHERE y = $1"
    assert names == ("a", "c")


def test_the_password_never_reaches_logs():
    assert redact("postgresql://bot:s3cret@db:5432/paperbot") == "postgresql://bot:***@db:5432/paperbot"


async def test_migrations_are_idempotent_and_processes_starting_together_migrate_once(pg_cluster):
    url = pg_cluster.create_database()
    stores = await asyncio.gather(*(Store.open(url) for _ in range(3)))
    for store in stores:
        assert await store.schema_version() == len(MIGRATIONS)
        await store.close()
    store = await Store.open(url)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM paperbot_schema") == 1
    finally:
        await conn.close()
