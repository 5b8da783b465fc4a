"""Forum targets end to end: `/subscriptions add channel:<forum> tags:…`, one tagged post per paper (and per digest),
exactly once across restarts and interrupted attempts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.devtools.emulator import SEND_MESSAGES
from bot.models import Owner, Scope, Target
from tests.e2e.conftest import FakeClock, World, arxiv_ids, today
from tests.e2e.test_subscriptions import QUERY, expected_ids

TAGS = ["nlp", "vision", "agents", "theory", "systems", "robotics"]


def _forum(world: World, **kwargs) -> int:
    return world.emulator.add_forum(world.guild_id, "paper-forum", tags=TAGS, **kwargs)


def _post_ids(world: World, forum: int) -> list[str]:
    return [pid for post in world.emulator.posts(forum) for pid in arxiv_ids([post["message"]])]


async def _subscribed_forum(world: World, items) -> int:
    world.hf.publish(today(), items[:30])
    forum = _forum(world)
    await world.start_bot()
    await world.polls_completed(1)
    one = await world.subscriptions("add", query=QUERY, channel=forum, tags="nlp, Vision")
    assert "as one post per paper, tagged nlp, vision" in one.content, one.content
    two = await world.subscriptions("add", query='"long context"', channel=forum, tags="vision,agents")
    assert "added" in two.content
    return forum


async def test_each_paper_becomes_one_tagged_forum_post(world: World, items):
    forum = await _subscribed_forum(world, items)
    world.hf.publish(today(), items[30:])
    want = expected_ids(items[30:])
    await world.emulator.wait_until(lambda: len(world.emulator.posts(forum)) >= len(want))
    await world.outbox_drained()
    posts = world.emulator.posts(forum)
    assert sorted(_post_ids(world, forum)) == sorted(want)  # one post per paper
    tag = {name: world.emulator.forum_tag_id(forum, name) for name in TAGS}
    title_of = {item["paper"]["id"]: item["paper"]["title"] for item in items}
    for post in posts:
        (embed,) = post["message"]["embeds"]
        paper_id = arxiv_ids([post["message"]])[0]
        title = " ".join(title_of[paper_id].split())
        assert post["name"] == (title if len(title) <= 100 else title[:99].rstrip() + "…")
        assert post["message"]["id"] == post["id"]
        (row,) = post["message"]["components"]
        assert [b["custom_id"] for b in row["components"]] == [
            f"paper:{a}:{paper_id}" for a in ("like", "dislike", "save", "similar")
        ]
        # Both subscriptions matched the "long context" papers: one post, the union of their tags.
        both = "#1, #2" in embed["footer"]["text"]
        expected = [tag["nlp"], tag["vision"], tag["agents"]] if both else [tag["nlp"], tag["vision"]]
        assert post["applied_tags"] == expected, (embed["footer"], post["applied_tags"])
    assert any("#1, #2" in p["message"]["embeds"][0]["footer"]["text"] for p in posts)
    assert not world.emulator.find_requests("POST", rf"/channels/{forum}/messages")

    # A click on a post counts for the forum; a restart reposts nothing.
    first = posts[0]
    paper_id = arxiv_ids([first["message"]])[0]
    clicked = await world.emulator.click(
        user_id=world.member_id, message=first["message"], custom_id=f"paper:like:{paper_id}"
    )
    assert "You liked" in clicked.content
    assert (await world.bot.store.feedback_counts(Target(Scope.GUILD, forum), paper_id)).likes == 1
    explained = await world.emulator.invoke(
        user_id=world.moderator_id,
        name="papers",
        subcommand="explain",
        options={"paper": paper_id, "subscription": 1},
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    text = explained.embeds[0]["description"]
    assert f"[open the post](https://discord.com/channels/{world.guild_id}/{first['id']})" in text
    assert "Feedback here: 👍 1 · 👎 0 · 🔖 0" in text
    await world.stop_bot()
    await world.start_bot()
    await world.polls_completed(2)
    assert len(world.emulator.posts(forum)) == len(want)
    second = posts[1]["message"]
    other_id = arxiv_ids([second])[0]
    after = await world.emulator.click(user_id=world.member_id, message=second, custom_id=f"paper:dislike:{other_id}")
    assert "You disliked" in after.content  # a post made before the restart, clicked after it
    assert (await world.bot.store.feedback_counts(Target(Scope.GUILD, forum), other_id)).dislikes == 1


async def test_tags_are_checked_and_autocompleted(world: World, items):
    forum = _forum(world)
    await world.start_bot()
    group = next(c for c in world.emulator.guild_commands[world.guild_id] if c["name"] == "subscriptions")
    add = next(o for o in group["options"] if o["name"] == "add")
    channel = next(o for o in add["options"] if o["name"] == "channel")
    assert sorted(channel["channel_types"]) == [0, 5, 15]  # text, announcement, forum
    tags = next(o for o in add["options"] if o["name"] == "tags")
    assert tags["type"] == 3 and tags["autocomplete"] and not tags.get("required")
    choices = await world.emulator.autocomplete(
        user_id=world.moderator_id,
        name="subscriptions",
        subcommand="add",
        options={"query": QUERY, "channel": forum, "tags": "nlp, vi"},
        focused="tags",
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert [c["value"] for c in choices] == ["nlp, vision"]
    refused = await world.subscriptions("add", query=QUERY, channel=forum, tags="nlp, quantum")
    assert refused.ephemeral and "has no tag `quantum`" in refused.content
    assert "`nlp`, `vision`, `agents`" in refused.content  # it names the forum's tags
    too_many = await world.subscriptions("add", query=QUERY, channel=forum, tags=",".join(TAGS))
    assert "at most 5 tags" in too_many.content
    not_forum = await world.subscriptions("add", query=QUERY, channel=world.other_channel_id, tags="nlp")
    assert "is not a forum" in not_forum.content
    assert await world.bot.store.list_subscriptions(Owner.guild(world.guild_id)) == []


async def test_a_forum_the_bot_cannot_post_in_is_refused(world: World):
    await world.start_bot()
    bot_role = world.emulator.guilds[world.guild_id].bot_role_id
    forum = _forum(world, overwrites=[{"id": bot_role, "type": 0, "deny": SEND_MESSAGES}])
    await world.wait_until(lambda: world.bot.get_channel(forum) is not None)
    refused = await world.subscriptions("add", query=QUERY, channel=forum)
    assert "missing Send Messages" in refused.content


@pytest.mark.both_drivers
async def test_interrupted_forum_posts_are_found_not_posted_again(world: World, items):
    forum = await _subscribed_forum(world, items)
    world.hf.publish(today(), items[30:])
    want = expected_ids(items[30:])
    await world.emulator.wait_until(lambda: len(world.emulator.posts(forum)) >= len(want))
    await world.outbox_drained()
    await world.stop_bot()
    created = len(world.emulator.find_requests("POST", rf"/channels/{forum}/threads"))
    # As if the bot had died after Discord created the posts but before it recorded them.
    await world.execute_sql("UPDATE deliveries SET status = 'sending', message_id = NULL")
    # One post is gone from the active list (archived): that paper is posted again, the others are found.
    archived = world.emulator.posts(forum)[0]
    world.emulator.archive_post(int(archived["id"]))
    await world.start_bot()
    await world.outbox_drained()
    assert world.emulator.find_requests("GET", rf"/guilds/{world.guild_id}/threads/active")
    assert len(world.emulator.find_requests("POST", rf"/channels/{forum}/threads")) == created + 1
    ids = _post_ids(world, forum)
    assert sorted(ids) == sorted([*want, arxiv_ids([archived["message"]])[0]])
    for post in world.emulator.posts(forum)[1:-1]:
        record = await world.bot.store.delivery_record(1, arxiv_ids([post["message"]])[0])
        assert record.status == "sent" and record.message_id == int(post["id"])


async def test_a_forum_digest_is_one_post(world: World, items):
    clock = world.clock = FakeClock(datetime(2026, 11, 2, 6, 0, tzinfo=UTC))
    world.hf.publish(clock.day(), items[:30])
    forum = _forum(world)
    await world.start_bot()
    await world.polls_completed(1)
    clock.advance(minutes=1)
    await world.subscriptions("add", query=QUERY, channel=forum, schedule="daily", tags="theory")
    world.hf.publish(clock.day(), items[30:])
    await world.polls_completed(2)
    assert world.emulator.posts(forum) == []
    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))
    await world.emulator.wait_until(lambda: len(world.emulator.posts(forum)) == 1)
    await world.polls_completed(2)
    (post,) = world.emulator.posts(forum)
    want = expected_ids(items[30:])
    assert post["name"] == f"Daily digest — 2026-11-02, {len(want)} papers"
    assert post["applied_tags"] == [world.emulator.forum_tag_id(forum, "theory")]
    selects = [row["components"][0] for row in post["message"]["components"]]
    assert [s["custom_id"] for s in selects] == ["papers:like", "papers:dislike", "papers:save", "papers:similar"]
    assert sorted(o["value"] for o in selects[0]["options"]) == sorted(want)


async def test_a_forum_that_requires_tags_gets_some(world: World):
    forum = world.emulator.add_forum(world.guild_id, "strict", tags=["nlp"], require_tag=True)
    await world.start_bot()
    refused = await world.subscriptions("add", query=QUERY, channel=forum)
    assert "requires a tag on every post" in refused.content and "`nlp`" in refused.content
    added = await world.subscriptions("add", query=QUERY, channel=forum, tags="nlp")
    assert "tagged nlp" in added.content


async def test_a_tag_deleted_from_the_forum_pauses_its_subscription_with_the_reason(world: World, items):
    world.hf.publish(today(), items[:30])
    forum = _forum(world)
    await world.start_bot()
    await world.polls_completed(1)
    await world.subscriptions("add", query=QUERY, channel=forum, tags="vision")
    world.emulator.remove_forum_tag(forum, "vision")
    world.hf.publish(today(), items[30:])

    async def paused() -> bool:
        (sub,) = await world.bot.store.list_subscriptions(Owner.guild(world.guild_id))
        return not sub.active

    for _ in range(200):
        if await paused():
            break
        await asyncio.sleep(0.05)
    listed = (await world.subscriptions("list")).embeds[0]["description"]
    assert "paused (the forum's tags changed" in listed
    assert world.emulator.posts(forum) == []
    assert len(world.emulator.find_requests("POST", rf"/channels/{forum}/threads")) == 1  # not tried again
