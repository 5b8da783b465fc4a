"""Hostile and broken sources (issue 16): poisoned items, gzip bombs, huge feeds, credentials in URLs."""

from __future__ import annotations

import copy
import logging
import threading

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import FeedSettings, HuggingFaceSettings
from bot.devtools.fakes.arxiv import FakeArxiv
from bot.devtools.fakes.hostile import GZIP_HEADERS, LONG_INTEGER_JSON, NESTED_JSON, gzip_bomb, poisoned_items
from bot.devtools.fakes.huggingface import fixture_items
from bot.devtools.fakes.rss import FakeFeed
from bot.sources.base import MAX_UPVOTES, SourceError, redact_text, redact_url
from bot.sources.huggingface import HuggingFaceSource, parse_daily_papers
from bot.sources.rss import RssSource
from tests.conftest import T0

TODAY = "2026-11-02"


@pytest.fixture
async def feed():
    server = FakeFeed("rss")
    await server.start()
    yield server
    await server.stop()


async def _fetch(source):
    async with aiohttp.ClientSession() as session:
        return await source.fetch(session, T0)


def test_poisoned_items_are_clamped_or_skipped():
    good = fixture_items()[0]
    papers = {p.id: p for p in parse_daily_papers([*poisoned_items(good), good])}
    assert good["paper"]["id"] in papers  # one bad item never costs the others
    assert papers["2411.90000"].upvotes == MAX_UPVOTES  # clamped below SQLite's 2**63 - 1
    assert papers["2411.90001"].published_at is None  # year 0 in UTC: no date rather than an overflow
    assert papers["2411.90002"].published_at is None  # year 10000 in UTC
    assert papers["2411.90003"].authors == ()  # not a list of objects: no authors
    assert papers["2411.90004"].upvotes == 0  # not an integer


def test_hidden_authors_are_not_listed():
    item = copy.deepcopy(fixture_items()[0])
    authors = [{"name": "Shown"}, {"name": "Hidden", "hidden": True}, {"name": "Also", "hidden": False}]
    item["paper"]["authors"] = authors
    (paper,) = parse_daily_papers([item])
    assert paper.authors == ("Shown", "Also")


async def test_poisoned_items_are_stored_with_the_good_ones(hf, store):
    good = fixture_items()[:2]
    hf.publish(TODAY, [*poisoned_items(good[0]), *good])
    papers = await _fetch(HuggingFaceSource(HuggingFaceSettings(url=hf.url)))
    result = await store.ingest(papers, lambda new, recheck: (), T0)
    assert len(result.new_papers) == 7
    assert (await store.get_paper("2411.90000")).upvotes == MAX_UPVOTES


@pytest.mark.parametrize("body", [NESTED_JSON, LONG_INTEGER_JSON], ids=["nested", "long-integer"])
async def test_undecodable_hf_bodies_are_source_errors(hf, body):
    hf.fail_next(200, body=body)
    with pytest.raises(SourceError, match="malformed JSON"):
        await _fetch(HuggingFaceSource(HuggingFaceSettings(url=hf.url)))


async def test_hf_gzip_bomb_fails_at_the_cap(hf):
    bomb = gzip_bomb(64 * 1024**2)  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 100 * 1024
    hf.fail_next(200, body=bomb, headers=GZIP_HEADERS)
    with pytest.raises(SourceError, match="larger than 10,000,000 bytes"):
        await _fetch(HuggingFaceSource(HuggingFaceSettings(url=hf.url)))


async def test_feed_gzip_bomb_fails_at_the_configured_cap(feed):
    feed.set_items([{"title": "A paper", "link": "https://journal.example/a/1"}])
    source = RssSource(FeedSettings(name="journal", url=feed.url, max_body_bytes=1_000_000))
    feed.fail_next(200, body=gzip_bomb(20 * 1024**2), headers=GZIP_HEADERS)
    with pytest.raises(SourceError, match="larger than 1,000,000 bytes"):
        await _fetch(source)
    assert [p.title for p in await _fetch(source)] == ["A paper"]  # the next poll reads the feed again


async def test_a_compressed_feed_under_the_cap_is_read(feed):
    import gzip

    from bot.devtools.fakes.rss import rss_document

    body = gzip.compress(rss_document([{"title": "Compressed", "link": "https://journal.example/c"}]).encode())
    feed.fail_next(200, body=body, headers=GZIP_HEADERS)
    (paper,) = await _fetch(RssSource(FeedSettings(name="journal", url=feed.url)))
    assert paper.title == "Compressed"


async def test_feeds_are_parsed_off_the_event_loop(feed, threads_of):
    import bot.sources.rss as rss

    threads = threads_of(rss, "_papers")
    feed.set_items([{"title": "A paper", "link": "https://journal.example/a/1"}])
    await _fetch(RssSource(FeedSettings(name="journal", url=feed.url)))
    assert threads and threads[0] is not threading.main_thread()


async def test_arxiv_feed_parsed_off_the_event_loop(threads_of):
    import bot.sources.feeds as feeds
    from bot.config import ArxivSettings
    from bot.sources.arxiv import ArxivSource

    threads = threads_of(feeds, "read_feed")
    server = FakeArxiv(items=[])
    await server.start()
    try:
        source = ArxivSource(ArxivSettings(url=server.url, min_request_gap=0.1))
        assert await _fetch(source) == []
    finally:
        await server.stop()
    assert threads and threads[0] is not threading.main_thread()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://journal.example/feed?key=SECRET", "https://journal.example/feed?…"),
        ("https://user:pa55@journal.example:8443/rss#frag", "https://journal.example:8443/rss"),
        ("http://[::1]:80/x?token=SECRET", "http://[::1]:80/x?…"),
        ("https://journal.example/feed.xml", "https://journal.example/feed.xml"),
        ("http://[::1/x?token=SECRET", "http://[::1/x"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_text_redacts_every_url_in_a_message():
    text = "HTTP 500 from https://u:p@a.example/f?key=SECRET (then http://b.example/?t=SECRET2)"
    assert redact_text(text) == "HTTP 500 from https://a.example/f?… (then http://b.example/?…)"


async def test_source_errors_and_logs_never_show_the_credential(feed, caplog):
    url = feed.url.replace("http://", "http://reader:hunter2@") + "?key=SECRET"
    source = RssSource(FeedSettings(name="journal", url=url))
    feed.fail_next(500)
    with pytest.raises(SourceError) as failed:
        await _fetch(source)
    feed.fail_next(200, body=b"<rss version='2.0'><channel><item><title>x</title></item>")  # truncated
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as truncated:
        await _fetch(source)
    for text in (str(failed.value), str(truncated.value), caplog.text):
        assert "SECRET" not in text and "hunter2" not in text
    assert "/feed.xml?…" in str(failed.value)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=40),
    st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    st.from_regex(r"/[A-Za-z0-9/._-]{0,20}", fullmatch=True),
)
def test_redact_text_never_shows_userinfo_or_query(prefix, host, path):
    url = f"https://user:PW5ECRET@{host}{path}?key=QS5ECRET#FR5ECRET"
    shown = redact_text(f"{prefix} {url} {prefix}")
    assert "5ECRET" not in shown.replace(prefix, "")
    assert isinstance(redact_text(prefix), str) and isinstance(redact_url(prefix), str)


def test_long_ids_cost_linear_time():
    """A long id is rejected without searching it (the arXiv id pattern's search is quadratic on such text)."""
    import time

    from bot.models import paper_key

    item = copy.deepcopy(fixture_items()[0])
    item["paper"]["id"] = "a" * 1_000_000
    start = time.perf_counter()
    assert parse_daily_papers([item]) == []
    assert paper_key("a" * 6000) == "a" * 6000  # the longest text a Discord option carries
    assert time.perf_counter() - start < 5  # linear: milliseconds; quadratic: minutes
