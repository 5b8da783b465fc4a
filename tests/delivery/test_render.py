import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.render import (
    EMBED_CHAR_BUDGET,
    MAX_MESSAGE_EMBED_CHARS,
    embed_length,
    escape_markdown,
    pack_messages,
    render_paper_embed,
    safe_url,
    shorten_authors,
    trim,
)
from bot.devtools.fakes.huggingface import fixture_items
from bot.models import Paper
from bot.sources.huggingface import parse_daily_papers


def _check_limits(embed):
    assert len(embed["title"]) <= 256
    assert len(embed.get("description", "")) <= 4096
    assert len(embed["footer"]["text"]) <= 2048
    assert len(embed.get("author", {}).get("name", "")) <= 256
    assert embed_length(embed) <= EMBED_CHAR_BUDGET
    for key in ("url",):
        if key in embed:
            assert embed[key].startswith(("http://", "https://")) and len(embed[key]) <= 2048


def test_fixture_papers_render_with_links_and_footer():
    papers = parse_daily_papers(fixture_items())
    for paper in papers:
        embed = render_paper_embed(paper, [3, 7])
        _check_limits(embed)
        assert embed["url"] == f"https://huggingface.co/papers/{paper.id}"
        assert "subscription #3, #7" in embed["footer"]["text"] and paper.id in embed["footer"]["text"]
        assert "[PDF](https://arxiv.org/pdf/" in embed["description"]
        assert f"▲ {paper.upvotes}" in embed["description"]
    with_code = next(p for p in papers if p.code_url)
    assert "[Code](https://github.com/example/" in render_paper_embed(with_code)["description"]
    assert render_paper_embed(papers[0])["thumbnail"]["url"].endswith(".png")


def test_ten_papers_fit_one_message():
    embeds = [render_paper_embed(p, [1]) for p in parse_daily_papers(fixture_items())]
    messages = pack_messages(embeds)
    assert [len(m) for m in messages] == [10] * 7 + [1]
    assert all(sum(embed_length(e) for e in m) <= MAX_MESSAGE_EMBED_CHARS for m in messages)


def test_authors_are_shortened():
    assert shorten_authors(["A", "B"]) == "A, B"
    assert shorten_authors(["A", "B", "C", "D"]) == "A, B, C et al."


def test_markdown_and_mentions_are_escaped():
    paper = Paper(
        id="2411.00001",
        title="**Bold** [click](https://evil) @everyone <@123>",
        abstract="# Header\n`code` ||spoiler|| <@&1>",
        authors=("_x_",),
        url="https://h/p",
    )
    embed = render_paper_embed(paper)
    assert "\\*\\*Bold\\*\\*" in embed["title"] and "\\[click\\]" in embed["title"]
    assert "\\<@123\\>" in embed["title"]
    assert embed["description"].startswith("\\# Header \\`code\\` \\|\\|spoiler\\|\\|")
    assert embed["author"]["name"] == "\\_x\\_"


def test_unsafe_urls_are_dropped_or_quoted():
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://x.org/a b)c") == "https://x.org/a%20b%29c"
    assert safe_url("https://" + "a" * 3000) is None
    assert safe_url("") is None


def test_trim_never_leaves_a_dangling_escape():
    text = escape_markdown("a" * 8 + "**")
    assert trim(text, 10) == "aaaaaaaa…"


urls = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.just("https://example.org/x"),
    st.builds(lambda s: "https://e.org/" + s, st.text(max_size=3000)),
)


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(max_size=1000),
    abstract=st.text(max_size=6000),
    authors=st.lists(st.text(max_size=300), max_size=30),
    url=urls,
    pdf=urls,
    code=urls,
    thumb=urls,
    summary=st.one_of(st.none(), st.text(max_size=5000)),
    upvotes=st.integers(0, 10**9),
    subs=st.lists(st.integers(1, 10**12), max_size=50),
)
def test_any_paper_renders_a_valid_embed(title, abstract, authors, url, pdf, code, thumb, summary, upvotes, subs):
    paper = Paper(
        id="2411.00001",
        title=title,
        abstract=abstract,
        authors=tuple(authors),
        url=url or "",
        pdf_url=pdf,
        code_url=code,
        thumbnail_url=thumb,
        ai_summary=summary,
        upvotes=upvotes,
    )
    embed = render_paper_embed(paper, subs)
    _check_limits(embed)
    assert embed["title"]
    # No raw markdown link syntax can survive from user-controlled text.
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\((?!https://arxiv|https?://e|https://example)", embed["title"])
    messages = pack_messages([embed] * 25)
    assert all(len(m) <= 10 and sum(embed_length(e) for e in m) <= 6000 for m in messages)


def test_many_subscription_ids_stay_within_the_budget():
    paper = Paper(
        id="2411.00001",
        title="T",
        abstract="A" * 2000,
        url="https://h/p",
        code_url="https://e.org/" + "x" * 200,
        upvotes=3553,
    )
    embed = render_paper_embed(paper, [10**11 + n for n in range(50)])
    _check_limits(embed)
    assert embed["footer"]["text"].count("#") == 5 and "+45" in embed["footer"]["text"]


def test_the_arxiv_version_is_shown_and_the_footer_marker_is_unchanged():
    paper = Paper(id="2403.01234", title="T", abstract="A.", source="arxiv", version=2)
    embed = render_paper_embed(paper)
    assert "v2" in embed["description"].split("\n\n")[-1]
    assert embed["footer"]["text"].endswith("arXiv 2403.01234")  # what the sender looks for after a crash
    assert "v1" not in render_paper_embed(Paper(id="2403.01234", title="T", abstract="A."))["description"]
