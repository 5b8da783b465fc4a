import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.config import ArxivSettings
from bot.devtools.fakes.arxiv import FakeArxiv, arxiv_document, default_items
from bot.devtools.fakes.huggingface import fixture_items
from bot.sources.arxiv import ArxivSource, parse_arxiv_feed
from bot.sources.base import SourceError
from tests.conftest import T0
from tests.sources.strategies import spliced

EDGE_CASES = Path(__file__).resolve().parent.parent / "fixtures" / "arxiv_edge_cases.xml"


@pytest.fixture
async def arxiv():
    server = FakeArxiv()
    await server.start()
    yield server
    await server.stop()


def _source(server, **overrides):
    options = {"url": server.url, "categories": ("cs.CL",), "timeout": 5.0, "min_request_gap": 0.0}
    options.update(overrides)
    return ArxivSource(ArxivSettings(**options))


async def _fetch(source, now=T0):
    async with aiohttp.ClientSession() as session:
        return await source.fetch(session, now)


def _item(n, announce_type="new", **overrides):
    item = {
        "id": f"2411.{n:05d}",
        "version": 1,
        "title": f"Paper {n}",
        "abstract": f"Abstract {n}.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "categories": ["cs.CL"],
        "announce_type": announce_type,
    }
    item.update(overrides)
    return item


async def test_parses_fields_and_matches_hugging_face_ids(arxiv):
    papers = await _fetch(_source(arxiv))
    hf = {item["paper"]["id"]: item["paper"] for item in fixture_items()}
    replaced = {i["id"] for i in default_items() if i["announce_type"].startswith("replace")}
    assert len(papers) == 71 and {p.id for p in papers} == set(hf)
    first = papers[0]
    assert first.id == "2403.10001" and first.title == hf[first.id]["title"]
    assert first.abstract == " ".join(hf[first.id]["summary"].split())
    assert first.authors == tuple(a["name"] for a in hf[first.id]["authors"])
    assert first.categories == ("cs.CL",) and first.announce_type == "new" and first.source == "arxiv"
    assert first.url == "https://arxiv.org/abs/2403.10001" and first.pdf_url == "https://arxiv.org/pdf/2403.10001"
    assert first.published_at == datetime(2026, 11, 2, 5, tzinfo=UTC)
    assert papers[1].categories == ("cs.LG", "cs.CL") and papers[1].announce_type == "cross"
    assert {p.id for p in papers if p.is_new_version} == replaced
    assert arxiv.requests[0].path == "/rss/cs.CL"


def test_edge_cases_fixture():
    papers = {p.id: p for p in parse_arxiv_feed(EDGE_CASES.read_bytes())}
    assert list(papers) == ["2411.00001", "hep-th/9901001", "2411.00002", "2301.00003"]
    bounds = papers["2411.00001"]
    assert bounds.announce_type == "new"  # listed twice (new and cross): the deliverable listing wins
    assert bounds.title == "Bounds for $x<y$ Attention & Friends"
    assert bounds.abstract == (
        "We show that for all $x<y$ and $y>z$ the bound holds with probability $1-\\delta$ & more."
    )
    assert bounds.authors == ("Ada Lovelace (University of London, UK)", "Alan Turing", "Grace Hopper")
    assert papers["hep-th/9901001"].announce_type == "replace"
    assert papers["2411.00002"].announce_type == "cross"  # no arxiv:announce_type: read from the description
    assert papers["2301.00003"].announce_type == "replace-cross"


def test_malformed_items_are_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="bot.sources.arxiv"):
        parse_arxiv_feed(EDGE_CASES.read_bytes())
    messages = [r.getMessage() for r in caplog.records]
    assert any("no arXiv id" in m for m in messages) and any("has no title" in m for m in messages)


async def test_cross_listings_follow_announce_types(arxiv):
    arxiv.set_items([_item(1), _item(2, "cross"), _item(3, "replace", version=2), _item(4, "replace-cross")])
    default = await _fetch(_source(arxiv))
    assert [(p.id, p.announce_type) for p in default] == [
        ("2411.00001", "new"),
        ("2411.00002", "cross"),
        ("2411.00003", "replace"),
        ("2411.00004", "replace-cross"),
    ]
    new_only = await _fetch(_source(arxiv, announce_types=("new",)))
    assert [p.id for p in new_only] == ["2411.00001", "2411.00003", "2411.00004"]
    assert [p.is_new_version for p in new_only] == [False, True, True]


def test_unknown_announce_types_are_dropped():
    body = arxiv_document(["cs.CL"], [_item(1), _item(2, "withdrawn")]).encode()
    assert [p.id for p in parse_arxiv_feed(body)] == ["2411.00001"]


async def test_categories_share_one_request(arxiv):
    arxiv.set_items([_item(1), _item(2, categories=["cs.LG"]), _item(3, categories=["cs.CV"])])
    papers = await _fetch(_source(arxiv, categories=("cs.CL", "cs.LG")))
    assert [p.id for p in papers] == ["2411.00001", "2411.00002"]
    assert [r.path for r in arxiv.requests] == ["/rss/cs.CL+cs.LG"]


async def test_etag_makes_the_second_fetch_conditional(arxiv):
    source = _source(arxiv)
    assert len(await _fetch(source)) == 71
    assert await _fetch(source) == []
    first, second = arxiv.requests
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == source._feed.etag
    arxiv.set_items([_item(1)])  # next day's listing: a new ETag, a full answer
    assert [p.id for p in await _fetch(source)] == ["2411.00001"]


async def test_max_age_suppresses_requests_until_it_expires(arxiv):
    arxiv.max_age = 600
    source = _source(arxiv)
    assert len(await _fetch(source, T0)) == 71
    assert await _fetch(source, T0 + timedelta(seconds=599)) == []
    assert len(arxiv.requests) == 1
    arxiv.set_items([_item(1)])
    assert [p.id for p in await _fetch(source, T0 + timedelta(seconds=600))] == ["2411.00001"]
    assert len(arxiv.requests) == 2


async def test_max_age_is_capped_and_age_counts(arxiv):
    arxiv.max_age = 10 * 86400
    arxiv.extra_headers = {"Age": "3600"}
    source = _source(arxiv)
    await _fetch(source)
    assert source._feed.fresh_until == T0 + timedelta(days=1)
    arxiv.max_age = 7200
    await _fetch(source, T0 + timedelta(days=1))
    assert source._feed.fresh_until == T0 + timedelta(days=1, seconds=3600)


async def test_requests_are_spaced_across_instances(arxiv):
    a, b = _source(arxiv, min_request_gap=0.3), _source(arxiv, categories=("cs.LG",), min_request_gap=0.3)
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(a.fetch(session, T0), b.fetch(session, T0))
    first, second = arxiv.requests
    assert second.at - first.at >= 0.3


async def test_empty_weekend_feed_is_not_an_error(arxiv):
    arxiv.empty()
    assert await _fetch(_source(arxiv)) == []


TRUNCATED = arxiv_document(["cs.CL"], default_items()[:3]).encode()[:-300]


@pytest.mark.parametrize(
    ("status", "body", "headers", "message"),
    [
        (500, b"oops", {}, "HTTP 500"),
        (429, b"slow down", {"Retry-After": "120"}, r"HTTP 429 .*Retry-After: 120"),
        (503, b"", {"Retry-After": "60"}, r"HTTP 503 .*Retry-After: 60"),
        (404, b"", {}, "HTTP 404"),
        (200, b"<rss version='2.0'><channel><title>x</titl></channel></rss>", {}, "malformed"),
        (200, TRUNCATED, {}, "truncated"),
        (200, b"<!doctype html><html><body>Service unavailable</body></html>", {}, "not an RSS or Atom feed"),
        (200, b"", {}, "not an RSS or Atom feed"),
    ],
)
async def test_failures_raise_source_error(arxiv, status, body, headers, message):
    arxiv.fail_next(status, body=body, headers=headers)
    source = _source(arxiv)
    with pytest.raises(SourceError, match=message):
        await _fetch(source)
    assert source._feed.etag is None  # nothing remembered from a failed poll
    assert len(await _fetch(source)) == 71


async def test_stall_times_out(arxiv):
    arxiv.stall_next(5.0)
    with pytest.raises(SourceError, match="Timeout"):
        await _fetch(_source(arxiv, timeout=0.2))


async def test_connection_refused_is_a_source_error():
    server = FakeArxiv()
    await server.start()
    await server.stop()  # its port is now closed
    with pytest.raises(SourceError, match=re.escape(f"fetching {server.url}/cs.CL")):
        await _fetch(_source(server))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=2000), spliced(EDGE_CASES.read_bytes())))
@example(b"<?xml version='1.0' encoding='\x00UTF-8'?><rss version='2.0'/>")  # feedparser raised ValueError
@example(b"<?xml version='1.0' encoding='\x80UTF-8'?><rss version='2.0'/>")  # ... and UnicodeDecodeError
def test_arbitrary_bytes_give_papers_or_source_error(body):
    """Any body either parses to a list of Papers or raises SourceError; nothing else escapes."""
    try:
        papers = parse_arxiv_feed(body)
    except SourceError:
        return
    assert isinstance(papers, list)
