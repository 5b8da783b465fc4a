"""What reading subscriptions costs once the outbox is huge: autocomplete, asked on every keystroke, must not read
the deliveries at all (issue 16: 440 ms per keystroke with a million sent deliveries)."""

from __future__ import annotations

import sqlite3

import pytest

from bot.models import Owner, Scope
from tests.conftest import T0

SENT = 1_000_000


def _fill_outbox(path: str, subscription_id: int) -> None:
    """A million sent deliveries for one subscription, written straight into the file (the papers they name need
    not exist for this: only the outbox is read)."""
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :sent) "
            "INSERT INTO deliveries (subscription_id, paper_id, target_kind, target_id, status, created_at, "
            "next_attempt_at) SELECT :sub, 'p' || i, 'channel', 10, 'sent', '2026', '2026' FROM n",
            {"sent": SENT, "sub": subscription_id},
        )
    db.close()


@pytest.mark.parametrize("storage_location", ["sqlite"], indirect=True)  # it counts SQLite's VM steps
async def test_autocomplete_reads_no_deliveries_at_a_million_sent(store, tmp_path):
    sub = await store.add_subscription(scope=Scope.GUILD, guild_id=1, channel_id=10, user_id=5, query="x", now=T0)
    _fill_outbox(str(tmp_path / "test.db"), sub.id)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    reader = store._db._reader  # the connection every read runs on: count the SQLite VM steps our reads take
    await reader.set_progress_handler(count, 1000)
    (listed,) = await store.list_subscriptions(Owner.guild(1))  # what /subscriptions list shows: counts them
    counted_steps, steps = steps, 0
    (offered,) = await store.list_subscriptions(Owner.guild(1), counted=False)  # what autocomplete reads
    assert listed.delivered_count == SENT and offered.id == sub.id
    assert counted_steps > SENT // 1000  # the count visits every delivery (thousands of steps of 1,000)...
    assert steps < 5  # ...the autocomplete read visits none of them
