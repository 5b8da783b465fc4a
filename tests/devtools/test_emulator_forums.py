"""The emulator's forums: posts with a first message and tags, Discord's checks, and the active threads list,
driven by the real discord.py client."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.devtools.emulator import SEND_MESSAGES
from tests.devtools.conftest import World
from tests.spec_conformance import SpecViolations


def _route(method: str, path: str, **params: Any) -> discord.http.Route:
    return discord.http.Route(method, path, **params)


def _post(name: str = "A paper", tags: list[str] | None = None, embeds: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "message": {"embeds": [{"title": f"e{n}"} for n in range(embeds)], "allowed_mentions": {"parse": []}},
    }
    if tags is not None:
        body["applied_tags"] = tags
    return body


async def test_the_real_client_creates_a_tagged_forum_post(world: World, spec_violations: SpecViolations) -> None:
    emu = world.emu
    forum_id = emu.add_forum(world.guild_id, "papers", tags=["nlp", "vision"])
    await emu.wait_until(lambda: isinstance(world.bot.get_channel(forum_id), discord.ForumChannel))
    forum = world.bot.get_channel(forum_id)
    assert isinstance(forum, discord.ForumChannel)
    assert [t.name for t in forum.available_tags] == ["nlp", "vision"]
    thread, message = await forum.create_thread(
        name="Attention sinks", embed=discord.Embed(title="paper"), applied_tags=[forum.available_tags[1]]
    )
    assert thread.parent_id == forum_id and message.id == thread.id
    # discord.py's create_thread adds ``?use_nested_fields=true``, which the specification does not list (the bot's
    # transport posts without it); only that is excused here.
    excused = spec_violations.excuse("POST", rf"/channels/{forum_id}/threads")
    assert all("use_nested_fields" in str(v) for v in excused)
    (post,) = emu.posts(forum_id)
    assert post["name"] == "Attention sinks" and post["applied_tags"] == [emu.forum_tag_id(forum_id, "vision")]
    assert emu.messages(thread.id)[0]["embeds"][0]["title"] == "paper"
    active = await world.bot.http.get_active_threads(world.guild_id)
    assert [t["id"] for t in active["threads"]] == [str(thread.id)]
    emu.archive_post(thread.id)
    assert (await world.bot.http.get_active_threads(world.guild_id))["threads"] == []


async def test_forum_posts_are_checked_like_discord(world: World, spec_violations: SpecViolations) -> None:
    emu, http = world.emu, world.bot.http
    forum_id = emu.add_forum(world.guild_id, "papers", tags=[f"t{n}" for n in range(7)])
    create = _route("POST", "/channels/{channel_id}/threads", channel_id=forum_id)
    tags = [emu.forum_tag_id(forum_id, f"t{n}") for n in range(7)]
    with pytest.raises(discord.HTTPException) as unknown:
        await http.request(create, json=_post(tags=[tags[0], "123"]))
    assert unknown.value.status == 400 and unknown.value.code == 50035
    with pytest.raises(discord.HTTPException) as too_many:
        await http.request(create, json=_post(tags=tags[:6]))
    assert too_many.value.code == 50035
    with pytest.raises(discord.HTTPException) as long_name:
        await http.request(create, json=_post(name="x" * 101))
    assert long_name.value.code == 50035
    with pytest.raises(discord.HTTPException) as no_message:
        await http.request(create, json={"name": "no message"})
    assert no_message.value.code == 50035
    with pytest.raises(discord.HTTPException) as as_message:
        post_message = _route("POST", "/channels/{channel_id}/messages", channel_id=forum_id)
        await http.request(post_message, json={"content": "x"})
    assert as_message.value.code == 50008  # a forum takes posts, not messages
    assert emu.posts(forum_id) == []
    # The 101-character name breaks the specification on purpose (its schema does not bound the tags, and a
    # thread without a message is valid there for other channel types: only the emulator refuses those).
    excused = spec_violations.excuse("POST", rf"/channels/{forum_id}/threads")
    assert len(excused) == (1 if spec_violations.spec else 0) and all("x" * 101 in str(v) for v in excused)
    ok = await http.request(create, json=_post(tags=tags[:5]))
    assert ok["message"]["id"] == ok["id"] and ok["applied_tags"] == tags[:5]


async def test_creating_posts_needs_send_messages_on_the_forum(world: World) -> None:
    emu = world.emu
    bot_role = emu.guilds[world.guild_id].bot_role_id
    forum_id = emu.add_forum(world.guild_id, "locked", overwrites=[{"id": bot_role, "type": 0, "deny": SEND_MESSAGES}])
    with pytest.raises(discord.Forbidden) as refused:
        await world.bot.http.request(
            _route("POST", "/channels/{channel_id}/threads", channel_id=forum_id), json=_post()
        )
    assert refused.value.code == 50013


async def test_required_and_deleted_tags(world: World) -> None:
    emu, http = world.emu, world.bot.http
    forum_id = emu.add_forum(world.guild_id, "strict", tags=["nlp", "vision"], require_tag=True)
    create = _route("POST", "/channels/{channel_id}/threads", channel_id=forum_id)
    with pytest.raises(discord.HTTPException) as untagged:
        await http.request(create, json=_post())
    assert untagged.value.code == 40067
    vision = emu.forum_tag_id(forum_id, "vision")
    emu.remove_forum_tag(forum_id, "vision")
    with pytest.raises(discord.HTTPException) as deleted:
        await http.request(create, json=_post(tags=[vision]))
    assert deleted.value.code == 50035 and "applied_tags" in deleted.value.text

    def tags_seen_by_the_bot() -> list[str]:
        forum = world.bot.get_channel(forum_id)
        return [t.name for t in forum.available_tags] if isinstance(forum, discord.ForumChannel) else []

    await emu.wait_until(lambda: tags_seen_by_the_bot() == ["nlp"])  # CHANNEL_UPDATE reached the client
