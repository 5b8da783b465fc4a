"""Several sources end to end: arXiv RSS + HF + a generic feed, one paper from two sources, health notices."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.devtools.fakes.arxiv import FakeArxiv
from bot.devtools.fakes.rss import FakeFeed
from tests.e2e.conftest import FakeClock, World, arxiv_ids

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
async def arxiv() -> AsyncIterator[FakeArxiv]:
    server = FakeArxiv(items=[])
    await server.start()
    yield server
    await server.stop()


def _arxiv_item(
    hf_item: dict[str, Any], announce_type: str = "new", version: int = 1, categories: tuple[str, ...] = ("cs.CL",)
) -> dict[str, Any]:
    paper = hf_item["paper"]
    return {
        "id": paper["id"],
        "version": version,
        "title": paper["title"],
        "abstract": paper["summary"],
        "authors": [a["name"] for a in paper["authors"]],
        "categories": list(categories),
        "announce_type": announce_type,
    }


async def _boot(world: World, arxiv: FakeArxiv, feed: FakeFeed | None = None, *, real_time: bool = False) -> FakeClock:
    clock = FakeClock(START)
    world.clock = None if real_time else clock
    world.config["sources"] = {
        "arxiv": {
            "enabled": True,
            "url": arxiv.url,
            "categories": ["cs.CL", "cs.CV"],
            "poll_interval": 1,
            "min_request_gap": 0.2,
            "timeout": 5,
        },
        "degraded_after": 2,
    }
    if feed is not None:
        world.config["sources"]["feeds"] = [{"name": "journal", "url": feed.url, "poll_interval": 1}]
    await world.start_bot()
    await world.polls_completed(1)  # HF catalogues (empty); arXiv and the feed catalogue on their own first polls
    await world.wait_until(lambda: len(arxiv.requests) >= 1)
    clock.advance(minutes=1)
    return clock


async def _arxiv_polls(world: World, arxiv: FakeArxiv, count: int = 2) -> None:
    start = len(arxiv.requests)
    await world.wait_until(lambda: len(arxiv.requests) >= start + count, timeout=15)


async def test_one_paper_from_arxiv_then_hf_is_delivered_once_and_merged(world: World, arxiv: FakeArxiv, items):
    clock = await _boot(world, arxiv)
    await world.subscriptions("add", query='"attention sink"')
    paper = items[44]
    arxiv.set_items([_arxiv_item(paper)])
    (message,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    assert arxiv_ids([message]) == [paper["paper"]["id"]]
    assert message["embeds"][0]["footer"]["text"].startswith("arXiv")
    assert " · v1" in message["embeds"][0]["description"] or "\n\nv1" in message["embeds"][0]["description"]

    hf_copy = copy.deepcopy(paper)
    hf_copy["paper"]["upvotes"] = 77
    world.hf.publish(clock.day(), [hf_copy])
    await world.polls_completed(2)
    await _arxiv_polls(world, arxiv)
    assert len(world.emulator.messages(world.channel_id)) == 1  # not again from HF
    stored = await world.bot.store.get_paper(paper["paper"]["id"])
    assert stored.upvotes == 77 and stored.thumbnail_url and stored.categories == ("cs.CL",)
    assert stored.url == f"https://huggingface.co/papers/{paper['paper']['id']}"  # HF page preferred

    # A new version (replace) updates the paper and is never posted again; a replace of an unseen paper neither.
    arxiv.set_items([_arxiv_item(paper, "replace", 2), _arxiv_item(items[68], "replace", 3)])
    await _arxiv_polls(world, arxiv)
    await world.outbox_drained()
    assert len(world.emulator.messages(world.channel_id)) == 1
    assert await world.bot.store.get_paper(items[68]["paper"]["id"]) is not None
    assert (await world.bot.store.get_paper(paper["paper"]["id"])).version == 2  # the newest version is kept
    shown = await world.emulator.invoke(
        user_id=world.moderator_id,
        name="papers",
        subcommand="show",
        options={"id": f"{paper['paper']['id']}v2"},
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert "v2" in shown.embeds[0]["description"].split("\n\n")[-1]


async def test_hf_then_arxiv_is_delivered_once(world: World, arxiv: FakeArxiv, items):
    clock = await _boot(world, arxiv)
    await world.subscriptions("add", query='"attention sink"')
    world.hf.publish(clock.day(), [items[44]])
    await world.emulator.wait_for_messages(world.channel_id, 1)
    arxiv.set_items([_arxiv_item(items[44], categories=("cs.CL", "cs.LG"))])
    await _arxiv_polls(world, arxiv)
    await world.outbox_drained()
    assert len(world.emulator.messages(world.channel_id)) == 1
    assert (await world.bot.store.get_paper(items[44]["paper"]["id"])).categories == ("cs.CL", "cs.LG")


async def test_categories_feed_the_cat_field_and_weekends_are_quiet(world: World, arxiv: FakeArxiv, items):
    await _boot(world, arxiv)
    await world.subscriptions("add", query="cat:cs.CV")
    arxiv.set_items(
        [_arxiv_item(items[1], "cross", categories=("cs.CV", "cs.CL")), _arxiv_item(items[2], categories=("cs.CL",))]
    )
    (message,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    assert arxiv_ids([message]) == [items[1]["paper"]["id"]]
    arxiv.empty()
    await _arxiv_polls(world, arxiv)
    state = await world.bot.store.source_state("arxiv")
    assert state.consecutive_failures == 0


async def test_generic_feed_source(world: World, arxiv: FakeArxiv, feed: FakeFeed, items):
    await _boot(world, arxiv, feed)
    await world.subscriptions("add", query="ti:photonic")
    feed.set_items(
        [
            {
                "title": "Photonic tensor cores for inference",
                "link": "https://journal.example/a/1",
                "guid": "urn:journal:1",
                "summary": "<p>We build <b>photonic</b> chips.</p>",
                "authors": ["Ada Optics"],
                "doi": "10.1234/ABC.1",
            }
        ]
    )
    (message,) = await world.emulator.wait_for_messages(world.channel_id, 1, timeout=15)
    (embed,) = message["embeds"]
    assert embed["title"] == "Photonic tensor cores for inference"
    assert "journal" in embed["footer"]["text"] and "doi:10.1234/abc.1" in embed["footer"]["text"]
    assert "<p>" not in embed["description"]


async def test_degraded_source_tells_the_owner_once_and_again_on_recovery(world: World, arxiv: FakeArxiv, items):
    await _boot(world, arxiv, real_time=True)  # the backoff between failed polls must really elapse
    world.hf.fail_next(500, times=2)
    await world.wait_until(lambda: world.emulator.dm_channel_id(world.emulator.owner_id) is not None, timeout=20)
    owner_dm = world.emulator.dm_channel_id(world.emulator.owner_id)
    (notice,) = await world.emulator.wait_for_messages(owner_dm, 1)
    assert "huggingface" in notice["content"] and "failed 2 polls in a row" in notice["content"]
    messages = await world.emulator.wait_for_messages(owner_dm, 2, timeout=20)
    assert "recovered" in messages[1]["content"]
    await world.polls_completed(1)
    assert len(world.emulator.messages(owner_dm)) == 2
