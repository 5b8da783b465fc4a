"""Relevance end to end: /papers similar, /alerts import from a .bib attachment, recommend mode, forget."""

from __future__ import annotations

import sqlite3

from tests.e2e.conftest import World, arxiv_ids
from tests.e2e.test_alerts_and_digests import _boot, _dm_posts

# The fixture's papers about recommender systems (the "liked topic") and some of its prompt-engineering ones.
RECSYS = ["2403.10519", "2403.10815", "2403.10852", "2403.10963"]
RECSYS_LATER = {"2403.11370", "2403.11444"}


def _examples(world: World, user_id: int) -> list[tuple[str, int, str]]:
    with sqlite3.connect(world.db_path) as db:
        return sorted(
            db.execute(
                "SELECT paper_id, label, origin FROM profile_examples WHERE target_kind = 'user' AND target_id = ?",
                (user_id,),
            ).fetchall()
        )


async def test_similar_lists_other_papers_on_the_topic_with_shared_words(world: World, items):
    await _boot(world, items, count=71)
    result = await world.emulator.invoke(
        user_id=world.member_id,
        name="papers",
        subcommand="similar",
        options={"paper": "https://arxiv.org/abs/2403.10519v2"},
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert result.ephemeral
    text = " ".join(e.get("description", "") for e in result.embeds)
    listed = [line.split("`")[1] for line in text.split("\n") if line.startswith("**[")]
    assert "2403.10519" not in listed and len(listed) >= 3
    assert set(listed[:3]) & (set(RECSYS[1:]) | RECSYS_LATER), listed  # recommendation papers come first
    assert "shared:" in text and "recommend" in text.lower()
    missing = await world.emulator.invoke(
        user_id=world.member_id,
        name="papers",
        subcommand="similar",
        options={"paper": "2401.00000"},
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert missing.ephemeral and "don't have" in missing.content


BIB = rb"""
@article{liked1, title={Item-Language Model for Conversational Recommendation}, eprint={2403.10519},
  archivePrefix={arXiv}}
@misc{liked2, title={Something}, url={https://arxiv.org/abs/2403.10815v1}}
@article{liked3, title={Whatever}, doi={10.48550/arXiv.2403.10852}}
@inproceedings{liked4, title={{Let Me Do It For You}: Towards LLM Empowered Recommendation via Tool Learning}}
@article{unknown, title={A Paper This Bot Never Saw}, journal={Nature}}
"""


async def test_import_a_bib_attachment_likes_what_it_recognises_and_forget_deletes_it(world: World, items):
    await _boot(world, items, count=30)
    reader = world.member_id
    result = await world.alerts("import", user_id=reader, file={"filename": "library.bib", "content": BIB})
    assert result.ephemeral
    assert "Recognised **4** of 5" in result.content and "A Paper This Bot Never Saw" in result.content
    assert _examples(world, reader) == [(p, 1, "import") for p in sorted(RECSYS)]

    explained = await world.alerts("list", user_id=reader)  # still no alerts: the profile stands alone
    assert "no alerts" in explained.content

    bad = await world.alerts("import", user_id=reader, file={"filename": "library.bib", "content": b"\xff\xfe junk"})
    assert bad.ephemeral and "not UTF-8" in bad.content
    wrong = await world.alerts("import", user_id=reader, file={"filename": "notes.txt", "content": b"hello"})
    assert "neither a .bib" in wrong.content
    huge = await world.alerts("import", user_id=reader, file={"filename": "big.bib", "content": b"%" * 1_000_001})
    assert "1,000,000 bytes" in huge.content
    assert len(_examples(world, reader)) == 4  # nothing half-imported by the bad files

    forgot = await world.alerts("forget", user_id=reader)
    assert forgot.ephemeral and "4 example(s) deleted" in forgot.content
    assert _examples(world, reader) == []


async def test_recommend_mode_delivers_the_liked_topic_and_not_the_rest(world: World, items):
    clock = await _boot(world, items, count=30)
    reader = world.member_id
    no_query = await world.alerts("add", user_id=reader)
    assert no_query.ephemeral and "needs a `query:`" in no_query.content
    unknown = await world.alerts("add", user_id=reader, mode="recommend", like="2401.00000")
    assert "don't have" in unknown.content
    added = await world.alerts("add", user_id=reader, mode="recommend", like=",".join(RECSYS))
    assert "Alert **#1** added" in added.content and "Recommend mode" in added.content, added.content

    world.hf.publish(clock.day(), items[30:])
    await world.polls_completed(2)
    await world.outbox_drained()
    delivered = set(arxiv_ids([m.json for m in _dm_posts(world, reader)]))
    # Oracle independent of the model: the later papers about recommendation, by their titles.
    on_topic = {i["paper"]["id"] for i in items[30:] if "recommend" in i["paper"]["title"].lower()}
    assert delivered and delivered <= on_topic, (delivered, on_topic)
    assert len(delivered) <= 5  # recommend mode's daily quota

    explained = await world.alerts("list", user_id=reader)
    assert "recommend mode" in explained.embeds[0]["description"]
