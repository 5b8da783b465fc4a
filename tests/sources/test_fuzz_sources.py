"""Property tests of the source parsers' error paths (issue 16): whatever a source sends, the result is a list of
Papers or a SourceError — never another exception, never a value the store cannot hold."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.devtools.fakes.hostile import LONG_INTEGER_JSON, NESTED_JSON
from bot.devtools.fakes.huggingface import fixture_items
from bot.devtools.fakes.rss import rss_document
from bot.sources.arxiv import parse_arxiv_feed
from bot.sources.base import MAX_UPVOTES, SourceError
from bot.sources.huggingface import decode_page, parse_daily_papers
from bot.sources.rss import parse_feed
from tests.sources.strategies import spliced

CAPTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-captures"
ARXIV_LIKE = rss_document(
    [
        {
            "title": "A paper (arXiv:2403.01234v2 [cs.CL] UPDATED)",
            "link": "https://tldr.takara.ai/p/2403.01234",
            "summary": "arXiv:2403.01234v2 Announce Type: replace Abstract: We <b>study</b> $x<y$.",
            "authors": ["LAPALU, N., SIMON, A., and O'Connell, R. J. (MIT, CSAIL): et al."],
            "dc_identifier": "10.1016/j.jpeds.2018.08.009",
        }
    ]
).encode()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
PAPER_KEYS = ["id", "title", "summary", "authors", "publishedAt", "upvotes", "ai_keywords", "githubRepo", "withdrawnAt"]


def _documents() -> list[bytes]:
    found = sorted(CAPTURES.glob("*.xml")) if CAPTURES.is_dir() else []
    return [ARXIV_LIKE] + [p.read_bytes()[:6000] for p in found[:6]]


def _well_formed(papers) -> None:
    assert isinstance(papers, list)
    for paper in papers:
        assert paper.id and paper.title and 0 <= paper.upvotes <= MAX_UPVOTES
        assert paper.version is None or paper.version > 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
@example(NESTED_JSON)
@example(LONG_INTEGER_JSON)
@example(b'[{"paper": {"id": "2403.01234", "title": "t", "upvotes": 9223372036854775808}}]')
@example(b'[{"paper": {"id": "2403.01234", "title": "t", "publishedAt": "9999-12-31T23:30:00-01:00"}}]')
def test_any_hf_body_gives_papers_or_source_error(body):
    try:
        items = decode_page(body, "fuzz")
    except SourceError:
        return
    _well_formed(parse_daily_papers(items))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({}, optional={"paper": st.dictionaries(st.sampled_from(PAPER_KEYS), JSON)})))
def test_any_hf_items_give_papers(items):
    """Items of any shape: each is read, clamped or skipped; the page never fails because of one."""
    base = fixture_items()[0]
    _well_formed(parse_daily_papers([*items, base]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_documents()).flatmap(spliced))
@example(b"<rss version='2.0'><channel>" + b"<x>" * 50_000 + b"</channel></rss>")
def test_any_feed_body_gives_papers_or_source_error(body):
    for parse in (lambda b: parse_feed(b, "fuzz"), parse_arxiv_feed):
        try:
            papers = parse(body)
        except SourceError:
            continue
        _well_formed(papers)
