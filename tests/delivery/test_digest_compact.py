"""A digest falling due while its subscription's matches are still compact (issue 14 §4) holds them all: the sender
queues them before building it, so no paper matched before the digest was due is lost or put off to the next one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import numpy as np

from bot.delivery.sender import Sender
from bot.models import DeliveryStatus, Paper, Schedule, Scope
from bot.store import matches
from bot.store.matches import CompactMatches
from tests.conftest import T0, make_paper
from tests.delivery.test_sender import _RecordingTransport

CHANNEL = 100


async def test_a_due_digest_includes_the_pairs_still_compact(store, monkeypatch):
    monkeypatch.setattr(matches, "IMMEDIATE_PAIRS", 0)  # every plain match is kept compact
    daily, instant = [
        await store.add_subscription(
            scope=Scope.GUILD, user_id=1, query="attention", now=T0, guild_id=1, channel_id=CHANNEL + n, schedule=s
        )
        for n, s in enumerate((Schedule.DAILY, Schedule.INSTANT))
    ]
    ids = np.array([daily.id, instant.id], dtype=np.int64)

    async def compact(new: Sequence[Paper], recheck: Sequence[Paper]) -> AsyncIterator[CompactMatches]:
        yield CompactMatches({paper.id: ids for paper in new})

    papers = [make_paper(n) for n in range(1, 4)]
    assert (await store.ingest(papers, compact, T0)).compacted == 6
    transport = _RecordingTransport()
    result = await Sender(store, transport, lambda: T0 + timedelta(days=1)).drain()
    assert result.digests == 1 and transport.posts == [CHANNEL]
    for paper in papers:
        record = await store.delivery_record(daily.id, paper.id)
        assert record is not None and record.status is DeliveryStatus.SENT
        assert await store.delivery_record(instant.id, paper.id) is None  # the instant one's wait for the expansion
