"""Papers without an arXiv id end to end: the id in a post's footer finds the paper again (issue 16 item 16),
and a generic feed linking an arXiv paper never rewrites what HF listed (item 10)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.devtools.fakes.rss import FakeFeed
from tests.e2e.conftest import FakeClock, World

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


async def _boot(world: World, feed: FakeFeed) -> FakeClock:
    clock = world.clock = FakeClock(START)
    world.config["sources"] = {"feeds": [{"name": "journal", "url": feed.url, "poll_interval": 1}]}
    await world.start_bot()
    return clock


async def _stored(world: World, source: str, count: int, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await world.bot.store.count_papers(source) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{source} never stored {count} papers"
        await asyncio.sleep(0.05)


async def test_show_and_explain_find_doi_and_feed_papers_by_their_footer_id(world: World, feed: FakeFeed):
    feed.set_items(
        [
            {
                "title": "Graph retrieval for CIKM",
                "link": "https://dl.example/10.1145/3583780.3614920",
                "doi": "10.1145/3583780.3614920",
            },
            {"title": "A lab's blog post on sparse attention", "link": "https://lab.example/posts/sparse"},
        ]
    )
    await _boot(world, feed)
    await _stored(world, "journal", 2)
    latest = await world.papers("latest", source="journal")
    footers = {e["title"]: e["footer"]["text"].split(" · ")[-1] for e in latest.embeds}
    doi_id = footers["Graph retrieval for CIKM"]
    rss_id = footers["A lab's blog post on sparse attention"]
    assert doi_id == "doi:10.1145/3583780.3614920" and rss_id.startswith("rss:")
    for typed, title in ((doi_id, "Graph retrieval for CIKM"), (rss_id, "A lab's blog post on sparse attention")):
        shown = await world.papers("show", id=typed)
        assert [e["title"] for e in shown.embeds] == [title], shown.content
        explained = await world.papers("explain", paper=typed)
        assert "don't have" not in (explained.content or ""), explained.content
    bare = await world.papers("show", id="https://doi.org/10.1145/3583780.3614920")
    assert [e["title"] for e in bare.embeds] == ["Graph retrieval for CIKM"]


async def test_a_feed_linking_an_hf_paper_does_not_rewrite_it(world: World, feed: FakeFeed, items):
    clock = await _boot(world, feed)
    paper = items[44]["paper"]
    world.hf.publish(clock.day(), [items[44]])
    await world.polls_completed(1)
    world.hf.days.clear()  # HF lists it no more, so only the feed speaks of it from now on
    await world.polls_completed(1)
    feed.set_items(
        [
            {
                "title": "This week's reading list",
                "link": f"https://arxiv.org/abs/{paper['id']}",
                "summary": "Five papers we liked.",
                "authors": ["Blog Team"],
            }
        ]
    )
    start = len(feed.requests)
    await world.wait_until(lambda: len(feed.requests) >= start + 2, timeout=15)
    shown = await world.papers("show", id=paper["id"])
    (embed,) = shown.embeds
    assert embed["title"] == paper["title"]
    assert "Blog Team" not in embed.get("author", {}).get("name", "")
    searched = await world.papers("search", query="ti:reading ti:list")
    assert paper["id"] not in str(searched.embeds)
