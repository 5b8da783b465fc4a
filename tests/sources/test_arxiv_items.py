"""arXiv papers recognised wherever a feed lists them (issue 11): mirrors, arXiv's RSS added as a generic feed,
legacy titles, author strings of both conventions, and one paper from HF and a mirror."""

from __future__ import annotations

import pytest

from bot.devtools.fakes.huggingface import fixture_items
from bot.devtools.fakes.rss import atom_document, rss_document
from bot.sources.arxiv import parse_arxiv_feed
from bot.sources.arxiv_items import legacy_title, split_names
from bot.sources.huggingface import parse_daily_papers
from bot.sources.rss import parse_feed
from tests.conftest import T0


@pytest.mark.parametrize(
    ("link", "paper_id", "version"),
    [
        ("https://tldr.takara.ai/p/2604.26238", "2604.26238", None),
        ("https://www.alphaxiv.org/abs/2604.26238v3", "2604.26238", 3),
        ("https://alphaxiv.org/overview/2604.26238", "2604.26238", None),
        ("https://arxiv.org/pdf/2604.26238v2", "2604.26238", 2),
        ("https://arxiv.org/pdf/2604.26238v2.pdf", "2604.26238", 2),
        ("https://export.arxiv.org/abs/hep-ex/0307015v1", "hep-ex/0307015", 1),
        ("https://ar5iv.labs.arxiv.org/html/2604.26238", "2604.26238", None),
        ("https://huggingface.co/papers/2604.26238", "2604.26238", None),
        ("https://www.semanticscholar.org/arxiv/2604.26238", "2604.26238", None),
    ],
)
def test_links_to_arxiv_mirrors_give_the_arxiv_id(link, paper_id, version):
    (paper,) = parse_feed(rss_document([{"title": "A paper", "link": link}]).encode(), "mirror")
    assert (paper.id, paper.version) == (paper_id, version)


@pytest.mark.parametrize(
    "link",
    ["https://blog.example/2024.12345", "https://tldr.takara.ai/about/2604.26238", "https://evil.example/p/2604.26238"],
)
def test_arxiv_like_digits_elsewhere_are_not_ids(link):
    (paper,) = parse_feed(rss_document([{"title": "A post", "link": link}]).encode(), "blog")
    assert paper.id.startswith("rss:")


def test_arxiv_rss_added_as_a_generic_feed_reads_like_the_arxiv_source():
    item = {
        "title": "The Drift Contract",
        "link": "https://arxiv.org/abs/2609.26811",
        "summary": "arXiv:2609.26811v2 Announce Type: replace \nAbstract: Local learning trains $a<b$ layers.",
        "authors": ["Ada Lovelace, Alan Turing (Bletchley, GCHQ), and Grace Hopper"],
        "categories": ["cs.LG"],
    }
    body = rss_document([item]).encode()
    (generic,) = parse_feed(body, "arxiv-as-feed")
    (arxiv,) = parse_arxiv_feed(body)
    assert generic.abstract == arxiv.abstract == "Local learning trains $a<b$ layers."
    assert generic.authors == arxiv.authors == ("Ada Lovelace", "Alan Turing (Bletchley, GCHQ)", "Grace Hopper")
    assert (generic.version, generic.announce_type) == (arxiv.version, arxiv.announce_type) == (2, "replace")
    assert generic.is_new_version  # a new version from any feed is stored, never delivered as new


@pytest.mark.parametrize(
    ("creator", "names"),
    [
        ("A. Author, B. Author, C. Author", ["A. Author", "B. Author", "C. Author"]),
        (
            "LAPALU, N., SIMON, A., Plaumann, P.-L., O'Connell, R. J.",
            ["LAPALU, N.", "SIMON, A.", "Plaumann, P.-L.", "O'Connell, R. J."],
        ),
        ("Lovelace, Ada", ["Lovelace, Ada"]),
        ("Smith, J.", ["Smith, J."]),
        (
            "LHCb collaboration: R. Aaij, et al. (909 additional authors not shown)",
            ["LHCb collaboration", "R. Aaij", "et al. (909 additional authors not shown)"],
        ),
    ],
)
def test_split_names(creator, names):
    assert split_names(creator) == names


def test_et_al_is_no_author_and_html_names_are_text():
    creator = (
        '<a href="http://arxiv.org/find/hep-ex/1/au:+Aaij_R">R. Aaij</a>, et al. (909 additional authors not shown)'
    )
    body = atom_document([{"title": "x", "link": "https://arxiv.org/abs/2107.03419", "authors": [creator]}]).encode()
    (paper,) = parse_feed(body, "legacy")
    assert paper.authors == ("R. Aaij",)


def test_legacy_titles():
    updated = legacy_title("Top quarks at the Tevatron. (arXiv:1805.09166v2 [hep-ex, hep-ph] UPDATED)")
    assert updated is not None
    assert (updated.title, updated.version, updated.categories, updated.announce_type) == (
        "Top quarks at the Tevatron",
        2,
        ("hep-ex", "hep-ph"),
        "replace",
    )
    assert legacy_title("A title (with parentheses)") is None


async def test_hf_and_a_mirror_feed_give_one_paper(store):
    hf_item = fixture_items()[0]
    paper_id = hf_item["paper"]["id"]
    mirror = rss_document([{"title": hf_item["paper"]["title"], "link": f"https://tldr.takara.ai/p/{paper_id}"}])
    papers = parse_daily_papers([hf_item]) + parse_feed(mirror.encode(), "tldr")
    assert {p.id for p in papers} == {paper_id}
    await store.ingest(papers[:1], lambda new, recheck: (), T0)
    again = await store.ingest(papers[1:], lambda new, recheck: [(1, p.id) for p in new], T0)
    assert again.new_papers == () and again.updated == 1


LEGACY_RDF = b"""<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://arxiv.org/"><title>hep-ex updates on arXiv.org</title><link>http://arxiv.org/</link>
<description>hep-ex</description></channel>
<item rdf:about="http://arxiv.org/abs/1805.09166">
<title>Recent Top quark results from the Tevatron. (arXiv:1805.09166v2 [hep-ex] UPDATED)</title>
<link>http://arxiv.org/abs/1805.09166</link>
<description>&lt;p&gt;We present $2.6&amp;lt;\\eta$ results.&lt;/p&gt;</description>
<dc:creator> &lt;a href=&quot;http://arxiv.org/find/au:+Tuchming_B&quot;&gt;Boris Tuchming&lt;/a&gt; (D0)</dc:creator>
</item>
</rdf:RDF>
"""


def test_a_legacy_arxiv_feed_reads_the_same_as_a_generic_feed():
    (arxiv,) = parse_arxiv_feed(LEGACY_RDF)
    (generic,) = parse_feed(LEGACY_RDF, "old-arxiv")
    for paper in (arxiv, generic):
        assert (paper.id, paper.version, paper.announce_type) == ("1805.09166", 2, "replace")
        assert paper.title == "Recent Top quark results from the Tevatron"
        assert paper.abstract == "We present $2.6<\\eta$ results."
        assert paper.authors == ("Boris Tuchming (D0)",) and paper.categories == ("hep-ex",)


def test_splitting_a_hostile_author_string_is_quick():
    """Initials are matched without wide backtracking: 2^n ways to split "A. A. A. … x" would hang the poll."""
    import time

    start = time.perf_counter()
    assert split_names("Smith, " + "A. " * 200 + "x")[0] == "Smith"
    assert time.perf_counter() - start < 5  # linear: well under a millisecond; exponential: never finishes


def test_a_hostile_title_is_read_quickly():
    import time

    start = time.perf_counter()
    assert legacy_title("(arXiv:" * 100_000) is None
    assert time.perf_counter() - start < 5  # only the end of a title can hold the suffix; scanning all is n²
