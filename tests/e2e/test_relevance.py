"""Relevance end to end: /papers similar, /alerts import from a .bib attachment, recommend mode, forget."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.models import Scope, Target
from tests.e2e.conftest import World, arxiv_ids
from tests.e2e.test_alerts_and_digests import _boot, _dm_posts

# The fixture's papers about recommender systems (the "liked topic") and some of its prompt-engineering ones.
RECSYS = ["2403.10519", "2403.10815", "2403.10852", "2403.10963"]
RECSYS_LATER = {"2403.11370", "2403.11444"}


async def _examples(world: World, user_id: int) -> list[tuple[str, int, str]]:
    """A user's alerts profile as the bot's store reads it (either driver)."""
    assert world.bot is not None
    return sorted(await world.bot.store.profile_examples(Target(Scope.USER, user_id)))


async def test_similar_lists_other_papers_on_the_topic_with_shared_words(world: World, items):
    await _boot(world, items, count=71)
    result = await world.papers("similar", user_id=world.member_id, paper="https://arxiv.org/abs/2403.10519v2")
    assert result.ephemeral
    text = " ".join(e.get("description", "") for e in result.embeds)
    listed = [line.split("`")[1] for line in text.split("\n") if line.startswith("**[")]
    assert "2403.10519" not in listed and len(listed) >= 3
    similarity = [float(x) for x in re.findall(r"similarity (\d\.\d\d)", text)]
    assert len(similarity) == len(listed) and similarity == sorted(similarity, reverse=True)  # best first
    assert set(listed[:3]) & (set(RECSYS[1:]) | RECSYS_LATER), listed  # recommendation papers come first
    assert "shared:" in text and "recommend" in text.lower()
    missing = await world.papers("similar", user_id=world.member_id, paper="2401.00000")
    assert missing.ephemeral and "don't have" in missing.content


BIB = rb"""
@article{liked1, title={Item-Language Model for Conversational Recommendation}, eprint={2403.10519},
  archivePrefix={arXiv}}
@misc{liked2, title={Something}, url={https://arxiv.org/abs/2403.10815v1}}
@article{liked3, title={Whatever}, doi={10.48550/arXiv.2403.10852}}
@inproceedings{liked4, title={{Let Me Do It For You}: Towards LLM Empowered Recommendation via Tool Learning}}
@article{unknown, title={A Paper This Bot Never Saw}, journal={Nature}}
"""


@pytest.mark.both_drivers
async def test_import_a_bib_attachment_likes_what_it_recognises_and_forget_deletes_it(world: World, items):
    await _boot(world, items, count=30)
    reader = world.member_id
    result = await world.alerts("import", user_id=reader, file={"filename": "library.bib", "content": BIB})
    assert result.ephemeral
    assert "Recognised **4** of 5" in result.content and "A Paper This Bot Never Saw" in result.content
    assert await _examples(world, reader) == [(p, 1, "import") for p in sorted(RECSYS)]

    explained = await world.alerts("list", user_id=reader)  # still no alerts: the profile stands alone
    assert "no alerts" in explained.content

    bad = await world.alerts("import", user_id=reader, file={"filename": "library.bib", "content": b"\xff\xfe junk"})
    assert bad.ephemeral and "not UTF-8" in bad.content
    wrong = await world.alerts("import", user_id=reader, file={"filename": "notes.txt", "content": b"hello"})
    assert "neither a .bib" in wrong.content
    huge = await world.alerts("import", user_id=reader, file={"filename": "big.bib", "content": b"%" * 1_000_001})
    assert "1,000,000 bytes" in huge.content
    assert len(await _examples(world, reader)) == 4  # nothing half-imported by the bad files

    zotero = (
        '"Key","Item Type","Title","Url","DOI","Extra"\n'
        '"A1","preprint","x","https://arxiv.org/abs/2403.10704","",""\n'
        '"A2","journalArticle","Item-Language Model for Conversational Recommendation","","",""\n'
        '"A3","journalArticle","Unknown","","10.1000/1","arXiv: 2401.00000"\n'
    )
    other = world.moderator_id
    csv_import = await world.alerts(
        "import", user_id=other, file={"filename": "Exported Items.csv", "content": zotero.encode()}
    )
    assert "Recognised **2** of 3" in csv_import.content and "Not recognised (1): Unknown" in csv_import.content
    assert await _examples(world, other) == [("2403.10519", 1, "import"), ("2403.10704", 1, "import")]

    forgot = await world.alerts("forget", user_id=reader)
    assert forgot.ephemeral and "4 liked, imported or clicked paper(s) deleted" in forgot.content
    assert await _examples(world, reader) == []


@pytest.mark.both_drivers
async def test_recommend_mode_delivers_the_liked_topic_and_not_the_rest(world: World, items):
    clock = await _boot(world, items, count=30)
    reader = world.member_id
    no_query = await world.alerts("add", user_id=reader)
    assert no_query.ephemeral and "needs a `query:`" in no_query.content
    unknown = await world.alerts("add", user_id=reader, mode="recommend", like="2401.00000")
    assert "don't have" in unknown.content
    added = await world.alerts("add", user_id=reader, mode="recommend", like=",".join(RECSYS), backfill=3)
    assert "Alert **#1** added" in added.content and "Recommend mode" in added.content, added.content
    assert "without one there is nothing to backfill" in added.content

    world.hf.publish(clock.day(), items[30:])
    await world.polls_completed(2)
    await world.outbox_drained()
    delivered = set(arxiv_ids([m.json for m in _dm_posts(world, reader)]))
    # Oracle independent of the model: the later papers about recommendation, by their titles.
    on_topic = {
        i["paper"]["id"] for i in items[30:] if "recommend" in (i["paper"]["title"] + i["paper"]["summary"]).lower()
    }
    assert delivered and delivered <= on_topic, (delivered, on_topic)
    assert len(delivered) <= 5  # recommend mode's daily quota

    listed = await world.alerts("list", user_id=reader)
    assert "recommend mode" in listed.embeds[0]["description"]

    # The profile is rebuilt from the stored examples after a restart: explain (in DMs) still shows the score.
    await world.stop_bot()
    await world.start_bot()
    await world.wait_until(lambda: world.bot.engine.recommender.has_profile(Target(Scope.USER, reader)), timeout=30)
    explained = await world.emulator.invoke(
        user_id=reader, name="papers", subcommand="explain", options={"paper": sorted(delivered)[0]}
    )
    text = " ".join(e.get("description", "") for e in explained.embeds)
    assert "Learned score" in text and "(no query: recommend mode)" in text
    passed_over = await world.emulator.invoke(
        user_id=reader, name="papers", subcommand="explain", options={"paper": "2403.11999"}
    )
    assert "not among the best its profile scored" in passed_over.embeds[0]["description"]


async def test_a_channel_profile_orders_its_digest_and_explain_shows_the_score(world: World, items):
    clock = await _boot(world, items, count=30)
    added = await world.subscriptions("add", query="language", schedule="daily", like=",".join(RECSYS))
    assert "Subscription **#1** added" in added.content, added.content
    world.hf.publish(clock.day(), items[30:])
    await world.polls_completed(2)

    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))
    (digest,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    order = re.findall(r"huggingface\.co/papers/(\d{4}\.\d{5})", digest["embeds"][0]["description"])
    titles = {i["paper"]["id"]: i["paper"]["title"].lower() for i in items}
    upvotes = {i["paper"]["id"]: i["paper"]["upvotes"] for i in items}
    on_topic = [i for i in order if "recommend" in titles[i]]
    assert len(on_topic) >= 2 and len(order) > len(on_topic)
    assert order[: len(on_topic)] == on_topic, order  # the liked topic first, whatever the upvotes
    assert order != sorted(order, key=lambda i: -upvotes[i])  # not the upvotes order it would be without a profile

    async def explained(paper_id: str) -> str:
        result = await world.papers("explain", user_id=world.moderator_id, paper=paper_id)
        return " ".join(e.get("description", "") for e in result.embeds)

    best, worst = await explained(order[0]), await explained(order[-1])
    assert "the recommend threshold" in best and "recommend" in best.split("Words behind it:")[1]

    def score(text: str) -> float:
        found = re.search(r"Learned score ([+-]\d+\.\d+)", text)
        assert found, text
        return float(found.group(1))

    assert score(best) > score(worst)


def _digest_order(digest: dict) -> list[str]:
    return re.findall(r"huggingface\.co/papers/(\d{4}\.\d{5})", digest["embeds"][0]["description"])


async def test_feedback_clicks_reorder_the_next_digest(world: World, items):
    clock = await _boot(world, items, count=10)
    added = await world.subscriptions("add", query="language", schedule="daily")
    assert "Subscription **#1** added" in added.content, added.content
    world.hf.publish(clock.day(), items[10:30])
    await world.polls_completed(2)
    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))
    (first,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    titles = {i["paper"]["id"]: i["paper"]["title"].lower() for i in items}
    upvotes = {i["paper"]["id"]: i["paper"]["upvotes"] for i in items}
    listed = _digest_order(first)
    assert listed == sorted(listed, key=lambda i: -upvotes[i])  # no profile yet: upvotes order
    liked = [i for i in listed if "recommend" in titles[i]]
    disliked = [i for i in listed if "recommend" not in titles[i]][:3]
    assert len(liked) >= 2, listed
    # Two members click in the channel: 👍 on the recommender-systems papers, 👎 on three others.
    for n, paper_id in enumerate(liked):
        clicker = world.member_id if n % 2 else world.moderator_id
        done = await world.emulator.click(user_id=clicker, message=first, custom_id="papers:like", values=[paper_id])
        assert done.ephemeral and "You liked" in done.content, done.content
    for paper_id in disliked:
        done = await world.emulator.click(
            user_id=world.member_id, message=first, custom_id="papers:dislike", values=[paper_id]
        )
        assert "You disliked" in done.content, done.content
    target = Target(Scope.GUILD, world.channel_id)
    assert sorted(await world.bot.store.profile_examples(target)) == sorted(
        [(i, 1, "feedback") for i in liked] + [(i, -1, "feedback") for i in disliked]
    )
    # The channel's profile is refitted after the clicks settle (debounced), without a restart.
    await world.emulator.wait_until(lambda: target in world.bot.engine.recommender.models, timeout=30)

    world.hf.publish(clock.day(), items[30:50])
    await world.polls_completed(3)
    clock.set(datetime(2026, 11, 3, 9, 0, 1, tzinfo=UTC))
    (_, second) = await world.emulator.wait_for_messages(world.channel_id, 2)
    order = _digest_order(second)
    on_topic = [i for i in order if "recommend" in titles[i]]
    assert len(on_topic) >= 2 and len(order) > len(on_topic), order
    assert order[: len(on_topic)] == on_topic, order  # what the channel liked comes first, whatever the upvotes
    assert order != sorted(order, key=lambda i: -upvotes[i])
