"""``/papers`` end to end: search (ranked, paged), latest, trending, show, explain's reasons, status."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import FakeClock, World, arxiv_ids
from tests.e2e.test_subscriptions import QUERY, expected_ids

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


async def _boot(world: World, items, count: int = 30) -> FakeClock:
    clock = world.clock = FakeClock(START)
    world.config.setdefault("discord", {})["dev_guild_id"] = 0
    world.hf.publish(clock.day(), items[:count])
    await world.start_bot()
    await world.polls_completed(1)
    clock.advance(minutes=1)
    return clock


async def papers(world: World, sub: str, *, user_id: int | None = None, in_dm: bool = False, **options):
    where = {} if in_dm else {"guild_id": world.guild_id, "channel_id": world.channel_id}
    return await world.emulator.invoke(
        user_id=user_id or world.moderator_id, name="papers", subcommand=sub, options=options, **where
    )


@pytest.mark.both_drivers
async def test_search_is_ranked_and_exact(world: World, items):
    await _boot(world, items, count=71)
    result = await papers(world, "search", query="ti:attention -survey")
    assert result.ephemeral
    want = {
        i["paper"]["id"]
        for i in items
        if re.search(r"\battenti(?:on|ons|ve)\b", i["paper"]["title"], re.I)
        and not re.search(
            r"\bsurvey", i["paper"]["title"] + i["paper"]["summary"] + " ".join(i["paper"].get("ai_keywords", [])), re.I
        )
    }
    total = int(re.search(r"of (\d+)", result.content).group(1))
    assert total == len(want)
    shown = arxiv_ids([{"embeds": result.embeds}])
    assert len(shown) == 5 and set(shown) <= want
    nothing = await papers(world, "search", query='"no such phrase anywhere"')
    assert nothing.content.startswith("No stored papers match")
    bad = await papers(world, "search", query="(unclosed")
    assert "can't be used" in bad.content


@pytest.mark.both_drivers
async def test_latest_trending_and_show(world: World, items):
    await _boot(world, items, count=71)
    latest = await papers(world, "latest", count=3)
    assert len(latest.embeds) == 3
    trending = await papers(world, "trending")
    upvotes = [int(re.search(r"▲ (\d+)", e["description"]).group(1)) for e in trending.embeds]
    assert upvotes == sorted(upvotes, reverse=True) and len(upvotes) == 10
    assert upvotes[0] == max(i["paper"]["upvotes"] for i in items)
    paper = items[44]["paper"]
    shown = await papers(world, "show", id=f"https://arxiv.org/abs/{paper['id']}v2")
    assert not shown.ephemeral
    (embed,) = shown.embeds
    assert embed["url"] == f"https://huggingface.co/papers/{paper['id']}"
    assert paper["summary"][-40:].replace("*", "\\*") in embed["description"]  # the whole abstract
    missing = await papers(world, "show", id="2401.00000")
    assert "don't have" in missing.content and missing.ephemeral
    unknown_source = await papers(world, "latest", source="nowhere")
    assert "Unknown source" in unknown_source.content


async def test_explain_gives_the_reason(world: World, items):
    clock = await _boot(world, items)
    catalogued = items[25]["paper"]["id"]  # matches QUERY, listed before any subscription
    await world.subscriptions("add", query=QUERY)  # #1 instant
    await world.subscriptions("add", query=QUERY, schedule="daily")  # #2 digest
    await world.subscriptions("add", query=QUERY, min_upvotes=10_000)  # #3 threshold
    await world.subscriptions("add", query="diffusion")  # #4 no match
    await world.subscriptions("add", query=QUERY, channel=world.other_channel_id)  # #5 paused below
    await world.subscriptions("pause", subscription=5)
    fresh = copy.deepcopy(items[30:])
    world.hf.publish(clock.day(), fresh)
    target = expected_ids(fresh)[0]
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()

    result = await papers(world, "explain", paper=target)
    text = result.embeds[0]["description"]
    blocks = {int(m.group(1)): m.group(0) for m in re.finditer(r"[✅❌] \*\*#(\d+)\*\*.*?(?=\n[✅❌]|\Z)", text, re.S)}
    assert "✅" in blocks[1] and "delivered" in blocks[1] and "discord.com/channels/" in blocks[1]
    assert "waiting for the daily digest" in blocks[2]
    assert "below this subscription's min_upvotes of 10000" in blocks[3]
    assert "❌" in blocks[4] and "does not match" in blocks[4] and "diffusion" in blocks[4]
    assert "paused (paused by a moderator)" in blocks[5]

    old = await papers(world, "explain", paper=catalogued, subscription=1)
    assert "listed before the subscription existed" in old.embeds[0]["description"]
    other = await papers(world, "explain", paper=target, subscription=999)
    assert "#999 is not a subscription or alert" in other.content


async def test_explain_in_dms_covers_my_alerts_only(world: World, items):
    clock = await _boot(world, items)
    await world.alerts("add", user_id=world.member_id, query=QUERY)
    await world.subscriptions("add", query=QUERY)
    world.hf.publish(clock.day(), items[30:])
    await world.wait_until(lambda: world.emulator.dm_channel_id(world.member_id) is not None)
    await world.emulator.wait_for_messages(world.emulator.dm_channel_id(world.member_id), 1)
    await world.outbox_drained()
    result = await papers(world, "explain", user_id=world.member_id, in_dm=True, paper=expected_ids(items[30:])[0])
    text = result.embeds[0]["description"]
    assert "**#1**" in text and "**#2**" not in text and "discord.com/channels/@me/" in text


@pytest.mark.both_drivers
async def test_status(world: World, items):
    await _boot(world, items)
    result = await papers(world, "status", user_id=world.member_id)
    text = result.embeds[0]["description"]
    assert "**huggingface**" in text and "ok" in text and "30 papers" in text and "Outbox: 0 waiting" in text


@pytest.mark.both_drivers
async def test_search_pages_with_buttons(world: World, items):
    await _boot(world, items, count=71)
    first = await papers(world, "search", query="language OR model")
    total = int(re.search(r"of (\d+)", first.content).group(1))
    assert total > 10
    page1 = arxiv_ids([{"embeds": first.embeds}])
    second = await world.emulator.click(user_id=world.moderator_id, message=first.message, custom_id="papers:next")
    assert "Results 6–10" in second.data["content"]
    page2 = arxiv_ids([{"embeds": second.data["embeds"]}])
    assert len(page2) == 5 and not set(page1) & set(page2)
    back = await world.emulator.click(user_id=world.moderator_id, message=second.message, custom_id="papers:prev")
    assert arxiv_ids([{"embeds": back.data["embeds"]}]) == page1
    prev = world.emulator.find_component(back.message, "papers:prev")
    assert prev["disabled"] is True
