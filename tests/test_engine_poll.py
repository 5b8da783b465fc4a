"""Engine.poll against real sources on loopback fakes and a real store: failures of any kind, the per-poll cap."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest

from bot.config import FeedSettings, HuggingFaceSettings
from bot.devtools.fakes.hostile import NESTED_JSON
from bot.devtools.fakes.huggingface import FakeHuggingFace, fixture_items
from bot.devtools.fakes.rss import FakeFeed
from bot.engine import Engine
from bot.matching import parse_query
from bot.models import Owner
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.rss import RssSource
from tests.conftest import T0

LEAKY_URL = "https://reader:hunter2@feeds.example/x?key=SECRET"


class ExplodingSource:
    """A source whose listing makes something deep inside raise what no one expected (a stand-in for a bug)."""

    name = "exploding"
    poll_interval = 60.0

    async def fetch(self, session, now):
        raise RuntimeError(f"parser bug near {LEAKY_URL}")

    def refetch(self) -> None:
        pass


@pytest.fixture
async def engine(store):
    engine = Engine(store, clock=lambda: T0, degraded_after=2, max_new_per_poll=5)
    await engine.load()
    return engine


async def test_an_unexpected_exception_is_a_failed_poll(engine, store, caplog):
    source = ExplodingSource()
    async with aiohttp.ClientSession() as session:
        first = await engine.poll(source, session)
        await store.set_next_attempt(source.name, None)  # let the second poll run now
        second = await engine.poll(source, session)
    assert first.error and "RuntimeError" in first.error
    state = await store.source_state(source.name)
    assert state.consecutive_failures == 2 and state.degraded and state.next_attempt_at > T0
    assert second.health is not None and second.health.value == "degraded"
    for text in (state.last_error, first.error, caplog.text):
        assert "SECRET" not in text and "hunter2" not in text
    assert "https://feeds.example/x?…" in state.last_error


async def test_an_hf_body_that_breaks_the_json_decoder_is_a_recorded_failure(engine, store):
    hf = FakeHuggingFace()
    await hf.start()
    try:
        source = HuggingFaceSource(HuggingFaceSettings(url=hf.url + "?token=SECRET"))
        hf.fail_next(200, body=NESTED_JSON)
        async with aiohttp.ClientSession() as session:
            result = await engine.poll(source, session)
        state = await store.source_state("huggingface")
        assert result.error and state.consecutive_failures == 1 and "RecursionError" in state.last_error
        assert "SECRET" not in state.last_error
    finally:
        await hf.stop()


async def test_new_papers_over_the_cap_come_in_the_next_polls(engine, store):
    feed = FakeFeed("rss")
    feed.max_age = 3600  # fresh for an hour, with an ETag: only a forgotten validator brings the rest
    await feed.start()
    try:
        await engine.add_subscription(owner=Owner.guild(1), user_id=5, query=parse_query("paper"), channel_id=10)
        source = RssSource(FeedSettings(name="journal", url=feed.url))
        entries = [{"title": f"Paper {n}", "link": f"https://journal.example/a/{n}"} for n in range(13)]
        feed.set_items(entries[:1])
        async with aiohttp.ClientSession() as session:
            assert (await engine.poll(source, session)).catalogued
            feed.set_items(entries)
            engine.clock = lambda: T0 + timedelta(hours=2)  # the first response is stale by now
            counts = []
            for _ in range(4):
                result = await engine.poll(source, session)
                counts.append((result.new, result.queued, await store.count_papers()))
        assert counts == [(5, 5, 6), (5, 5, 11), (2, 2, 13), (0, 0, 13)]
        assert len(feed.requests) == 4  # the last poll found the feed fresh: nothing deferred, nothing asked
    finally:
        await feed.stop()


async def test_the_first_poll_catalogues_everything_uncapped(engine, store):
    hf = FakeHuggingFace()
    await hf.start()
    try:
        hf.publish(T0.date().isoformat(), fixture_items()[:12])
        async with aiohttp.ClientSession() as session:
            result = await engine.poll(HuggingFaceSource(HuggingFaceSettings(url=hf.url)), session)
        assert result.catalogued and await store.count_papers() == 12
    finally:
        await hf.stop()
