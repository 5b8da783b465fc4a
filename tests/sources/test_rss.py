import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import FeedSettings
from bot.devtools.fakes.rss import FakeFeed, atom_document, rss_document
from bot.sources.base import SourceError
from bot.sources.feeds import html_to_text
from bot.sources.rss import RssSource, parse_feed
from tests.conftest import T0
from tests.sources.strategies import spliced

JOURNAL = Path(__file__).resolve().parent.parent / "fixtures" / "rss_journal.xml"
PUBLISHED = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)

POST = {
    "title": "Notes on attention sinks & <why>",
    "guid": "https://blog.example/posts/attention-sinks",
    "link": "https://blog.example/posts/attention-sinks",
    "summary": "<p>Why the <em>first</em> token&nbsp;matters &amp; what to do.</p><p>Second paragraph.</p>"
    "<script>track()</script><style>p {}</style>",
    "authors": ["Grace Hopper", "Ada Lovelace"],
    "categories": ["attention", "llm"],
    "published": PUBLISHED,
}


@pytest.fixture(params=["rss", "atom"])
async def feed(request):
    server = FakeFeed(request.param, [dict(POST)])
    await server.start()
    yield server
    await server.stop()


async def _fetch(source, now=T0):
    async with aiohttp.ClientSession() as session:
        return await source.fetch(session, now)


def _source(server, **overrides):
    return RssSource(FeedSettings(**{"name": "rss:test", "url": server.url, "timeout": 5.0, **overrides}))


def _one(item, kind="rss"):
    document = rss_document([item]) if kind == "rss" else atom_document([item])
    [paper] = parse_feed(document.encode(), "rss:test")
    return paper


async def test_rss_and_atom_parse(feed):
    [paper] = await _fetch(_source(feed))
    expected_id = "rss:" + hashlib.sha256(POST["guid"].encode()).hexdigest()[:16]
    assert paper.id == expected_id and paper.source == "rss:test"
    assert paper.title == "Notes on attention sinks & <why>"
    assert paper.abstract == "Why the first token matters & what to do. Second paragraph."
    assert paper.authors == ("Grace Hopper", "Ada Lovelace")
    assert paper.categories == ("attention", "llm")
    assert paper.url == POST["link"] and paper.pdf_url is None
    assert paper.published_at == PUBLISHED and paper.announce_type == "new"


async def test_hash_ids_are_stable(feed):
    first = await _fetch(_source(feed))
    again = await _fetch(_source(feed, name="rss:other"))
    assert [p.id for p in first] == [p.id for p in again] and again[0].source == "rss:other"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"link": "https://arxiv.org/abs/2403.10001v2"}, "2403.10001"),
        ({"link": "http://export.arxiv.org/pdf/2403.10001v1.pdf"}, "2403.10001"),
        ({"link": "https://huggingface.co/papers/2403.10038"}, "2403.10038"),
        ({"link": "https://www.alphaxiv.org/abs/2403.10075"}, "2403.10075"),
        ({"link": "https://arxiv.org/abs/hep-th/9901001"}, "hep-th/9901001"),
        ({"guid": "oai:arXiv.org:2403.10112v3", "link": "https://blog.example/p/1"}, "2403.10112"),
        ({"link": "https://blog.example/2024.12345"}, None),
        ({"guid": "2024.12345", "link": "https://blog.example/p/2"}, None),
        ({"link": "https://huggingface.co/blog/2403.10001"}, None),
        ({"link": "https://arxiv.org/list/cs.CL/2403.10001"}, None),
        ({"link": "https://notarxiv.org/abs/2403.10001"}, None),
    ],
)
@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_arxiv_linked_entries_get_the_arxiv_id(fields, expected, kind):
    paper = _one({"title": "A paper", **fields}, kind)
    if expected is None:
        assert paper.id.startswith("rss:")
    else:
        assert paper.id == expected
        assert paper.pdf_url == f"https://arxiv.org/pdf/{expected}"


def test_doi_entries_get_a_doi_id():
    papers = parse_feed(JOURNAL.read_bytes(), "rss:nature-mi")
    assert [p.id for p in papers] == ["doi:10.1038/s42256-026-01234-5", "doi:10.1038/s42256-026-09999-0"]
    first = papers[0]
    assert first.title == "Learning sparse attention"
    assert first.abstract == (
        "Nature Machine Intelligence, Published online: 02 November 2026; "
        "doi:10.1038/s42256-026-01234-5 Sparse attention & friends."
    )
    assert first.authors == ("Ada Lovelace", "Alan Turing")
    assert first.categories == ("Machine learning", "Computer science")
    assert first.published_at == datetime(2026, 11, 2, tzinfo=UTC)
    doi_link = _one({"title": "T", "link": "https://doi.org/10.1145/3795866.3844758", "guid": "x"})
    assert doi_link.id == "doi:10.1145/3795866.3844758"
    assert _one({"title": "T", "guid": "g", "doi": "not a doi"}).id.startswith("rss:")


def test_entries_without_identity_or_title_are_skipped(caplog):
    body = rss_document([{"title": "No guid, no link"}, {"title": " ", "guid": "g1"}, {"title": "Ok", "guid": "g2"}])
    assert [p.title for p in parse_feed(body.encode(), "rss:test")] == ["Ok"]
    assert "neither a guid nor a link" in caplog.text and "has no title" in caplog.text


def test_plain_text_summaries_are_kept_literally():
    body = atom_document([]).replace(
        "</feed>",
        "<entry><id>tag:x,2026:1</id><title>T</title><summary type='text'>for $x&lt;y$ and $y&gt;z$"
        "</summary></entry></feed>",
    )
    [paper] = parse_feed(body.encode(), "rss:test")
    assert paper.abstract == "for $x<y$ and $y>z$"


def test_recovered_feed_is_accepted_with_a_warning(caplog):
    body = rss_document([{"title": "Fish & chips", "guid": "g"}]).replace("&amp;", "&")  # a stray "&"
    [paper] = parse_feed(body.encode(), "rss:test")
    assert paper.title.startswith("Fish") and "not well-formed" in caplog.text


async def test_etag_then_304(feed):
    source = _source(feed)
    assert len(await _fetch(source)) == 1
    assert await _fetch(source) == []
    first, second = feed.requests
    assert "If-None-Match" not in first.headers and second.headers["If-None-Match"] == source._feed.etag


async def test_last_modified_then_304(feed):
    feed.use_etag, feed.last_modified = False, "Sun, 01 Nov 2026 09:30:00 GMT"
    source = _source(feed)
    assert len(await _fetch(source)) == 1
    assert await _fetch(source) == []
    assert feed.requests[1].headers["If-Modified-Since"] == "Sun, 01 Nov 2026 09:30:00 GMT"
    assert "If-None-Match" not in feed.requests[1].headers


async def test_max_age_is_honoured(feed):
    feed.max_age = 300
    source = _source(feed)
    await _fetch(source)
    assert await _fetch(source, T0 + timedelta(seconds=299)) == []
    assert len(feed.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b"", "HTTP 500"),
        (200, b"<html><body>Sign in</body></html>", "not an RSS or Atom feed"),
        (200, rss_document([POST] * 3).encode()[:-200], "truncated"),
    ],
)
async def test_failures_raise_source_error(feed, status, body, message):
    feed.fail_next(status, body=body)
    with pytest.raises(SourceError, match=message):
        await _fetch(_source(feed))


async def test_stall_times_out(feed):
    feed.stall_next(5.0)
    with pytest.raises(SourceError, match="Timeout"):
        await _fetch(_source(feed, timeout=0.2))


def test_html_to_text():
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a b c"
    assert html_to_text("x &lt;tag&gt; &amp;amp; <script>alert(1)</script>y") == "x <tag> &amp; y"
    assert html_to_text("unclosed <b>bold") == "unclosed bold"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=2000),
        spliced(JOURNAL.read_bytes()),
        spliced(atom_document([POST, {"title": "x", "link": "https://arxiv.org/abs/2403.10001"}]).encode()),
    )
)
def test_arbitrary_bytes_give_papers_or_source_error(body):
    """Any body either parses to a list of Papers or raises SourceError; nothing else escapes."""
    try:
        papers = parse_feed(body, "rss:fuzz")
    except SourceError:
        return
    assert isinstance(papers, list)


@given(st.text(max_size=300))
def test_html_to_text_never_raises(markup):
    assert isinstance(html_to_text(markup), str)
