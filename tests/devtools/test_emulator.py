"""Self-test: the real discord.py client logs in to the emulator, syncs, answers interactions and posts."""

from __future__ import annotations

import aiohttp
import discord
import pytest

from bot.devtools.emulator import (
    DEFAULT_EVERYONE,
    MANAGE_CHANNELS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    DiscordEmulator,
)
from bot.devtools.emulator.model import EPHEMERAL, LOADING
from tests.devtools.conftest import World
from tests.spec_conformance import SpecViolations


async def test_login_sync_and_content_type(world: World, spec_violations: SpecViolations) -> None:
    emu = world.emu
    assert [c["name"] for c in emu.guild_commands[world.guild_id]] == ["feeds"]
    assert {c["name"] for c in emu.global_commands} == {"ping", "serveronly", "slow", "pager"}
    feeds = emu.guild_commands[world.guild_id][0]
    assert feeds["default_member_permissions"] == str(MANAGE_CHANNELS)
    assert world.bot.get_guild(world.guild_id) is not None
    assert world.bot.get_guild(world.guild_id).me is not None  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {DiscordEmulator.BOT_TOKEN}"}
        async with session.get(f"{emu.api_base}/users/@me", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
        async with session.get(f"{emu.api_base}/users/@me", headers={"Authorization": "Bot nope"}) as resp:
            assert resp.status == 401
    with pytest.raises(discord.NotFound):
        await world.bot.http.request(discord.http.Route("GET", "/nowhere"))
    assert emu.find_requests("GET", "/nowhere")[0].status == 404
    assert spec_violations.excuse("GET", "/nowhere") or spec_violations.spec is None  # not a Discord route


async def test_bad_token_is_a_login_failure(emu: DiscordEmulator) -> None:
    client = discord.Client(intents=discord.Intents(guilds=True))
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("wrong-token")
    finally:
        await client.close()


async def test_invoke_ephemeral_reply_with_resolved_channel(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(
        user_id=world.admin,
        name="feeds",
        subcommand="add",
        options={"channel": world.announcements, "topic": "llm"},
        guild_id=world.guild_id,
    )
    expected = emu.permissions_for(world.guild_id, world.announcements, world.admin)
    assert expected & SEND_MESSAGES == 0
    assert result.response_type == 4 and result.ephemeral
    assert result.content == f"llm -> {world.announcements} perms={expected}"
    assert emu.messages(world.general) == []  # ephemeral replies are not channel messages


async def test_deferred_then_followups(world: World) -> None:
    emu = world.emu
    result = await emu.invoke(user_id=world.admin, name="feeds", subcommand="digest", guild_id=world.guild_id)
    assert result.response_type == 5 and result.ephemeral
    assert result.content == "digest ready" and result.embeds[0]["title"] == "Top papers"
    original = result.message
    assert original["content"] == "digest ready" and not original["flags"] & LOADING  # the placeholder, edited
    followups = await emu.wait_for_followups(result, 1)
    assert followups[0]["content"] == "and one more thing"
    [followup] = result.followup_messages  # a message of its own, not ephemeral (its flags say so)
    assert followup["id"] != original["id"] and followup["content"] == "and one more thing"
    assert not followup["flags"] & EPHEMERAL


async def test_a_followup_does_not_replace_the_thinking_placeholder(world: World) -> None:
    emu = world.emu
    with pytest.raises(TimeoutError, match=r'1 followup.*still sees the "thinking" placeholder'):
        await emu.invoke(user_id=world.admin, name="feeds", subcommand="notify", guild_id=world.guild_id, timeout=1)
    [result] = emu.interactions
    assert result.response_type == 5 and result.data == {}
    placeholder = result.message
    assert placeholder["flags"] & LOADING and placeholder["content"] == ""  # still "paperbot is thinking..."
    [followup] = result.followup_messages
    assert followup["content"] == "done" and followup["id"] != placeholder["id"] and followup["flags"] & EPHEMERAL


async def test_autocomplete(world: World) -> None:
    choices = await world.emu.autocomplete(
        user_id=world.admin,
        name="feeds",
        subcommand="add",
        options={"topic": "ng"},
        focused="topic",
        guild_id=world.guild_id,
    )
    assert choices == [{"name": "long-context", "value": "long-context"}]


async def test_discord_side_gates(world: World) -> None:
    emu = world.emu
    with pytest.raises(PermissionError):
        await emu.invoke(user_id=world.pleb, name="feeds", subcommand="digest", guild_id=world.guild_id)
    with pytest.raises(AssertionError, match="command not synced"):
        await emu.invoke(user_id=world.admin, name="nope", guild_id=world.guild_id)
    with pytest.raises(PermissionError):
        await emu.invoke(user_id=world.pleb, name="serveronly")  # DM context excluded
    assert (await emu.invoke(user_id=world.pleb, name="serveronly", guild_id=world.guild_id)).content == "ok"
    dm = await emu.invoke(user_id=world.pleb, name="ping")
    assert dm.content == "pong True" and not dm.ephemeral


async def test_nonce_idempotency_and_limits(world: World, spec_violations: SpecViolations) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("paper 1", nonce="digest-1")
    second = await channel.send("paper 1", nonce="digest-1")
    assert first.id == second.id
    [msg] = emu.messages(world.general)
    assert msg["nonce"] == "digest-1" and msg["allowed_mentions"] == {"parse": []}
    with pytest.raises(discord.HTTPException) as exc:
        await channel.send(embed=discord.Embed(title="x" * 257))
    assert exc.value.status == 400 and exc.value.code == 50035
    with pytest.raises(discord.HTTPException) as exc:
        await channel.send(embeds=[discord.Embed(description="y" * 4000) for _ in range(2)])
    assert exc.value.code == 50035
    assert len(emu.messages(world.general)) == 1
    # The 257-character title breaks the specification too (the 8,000-character pair only Discord's total).
    assert len(spec_violations.excuse("POST", rf"/channels/{world.general}/messages")) == int(
        bool(spec_violations.spec)
    )


async def test_429_is_retried_once(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    emu.fail_next("POST", r"/channels/\d+/messages", status=429, retry_after=0.05)
    await channel.send("after a rate limit")
    assert [r.status for r in emu.find_requests("POST", rf"/channels/{world.general}/messages")] == [429, 200]
    assert [m["content"] for m in await emu.wait_for_messages(world.general, 1)] == ["after a rate limit"]


async def test_forbidden_channel_and_closed_dms(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    emu.set_channel_error(world.general, 403, 50013)
    with pytest.raises(discord.Forbidden) as exc:
        await channel.send("nope")
    assert exc.value.code == 50013
    emu.clear_channel_error(world.general)
    await channel.send("yes")
    with pytest.raises(discord.Forbidden) as exc:  # real permission computation: @everyone can't send here
        await world.bot.get_channel(world.announcements).send("hi")  # type: ignore[union-attr]
    assert exc.value.code == 50013

    closed = emu.add_user("hermit", dms_closed=True)
    with pytest.raises(discord.Forbidden) as exc:
        await (await world.bot.fetch_user(closed)).send("hello")
    assert exc.value.code == 50007
    reader = await world.bot.fetch_user(world.pleb)
    await reader.send("your digest")
    dm = emu.dm_channel_id(world.pleb)
    assert dm is not None and [m["content"] for m in emu.messages(dm)] == ["your digest"]


async def test_gateway_resume_and_reidentify(world: World) -> None:
    emu = world.emu
    invoke = {
        "user_id": world.admin,
        "name": "feeds",
        "subcommand": "add",
        "guild_id": world.guild_id,
        "options": {"channel": world.general, "topic": "vision"},
    }
    await emu.drop_gateway()
    late_channel = emu.add_channel(world.guild_id, "added-while-down")  # CHANNEL_CREATE is replayed on RESUME
    assert (await emu.invoke(**invoke)).content.startswith("vision")  # type: ignore[arg-type]
    assert (emu.identify_count, emu.resume_count) == (1, 1)
    await emu.wait_until(lambda: world.bot.get_channel(late_channel) is not None, 2)
    await emu.send_reconnect()
    assert (await emu.invoke(**invoke)).content.startswith("vision")  # type: ignore[arg-type]
    assert (emu.identify_count, emu.resume_count) == (1, 2)
    await emu.invalidate_session(resumable=False)
    assert (await emu.invoke(**invoke)).content.startswith("vision")  # type: ignore[arg-type]
    assert (emu.identify_count, emu.resume_count) == (2, 2)


async def test_late_interaction_response_is_reported(world: World) -> None:
    world.emu.interaction_deadline = 0.1
    with pytest.raises(AssertionError, match="after"):
        await world.emu.invoke(user_id=world.admin, name="slow", guild_id=world.guild_id)


def test_permissions_for_algorithm() -> None:
    emu = DiscordEmulator()
    guild = emu.add_guild("g", everyone_permissions=DEFAULT_EVERYONE)
    role = emu.add_role(guild.id, "writers", 0)
    user = emu.add_member(guild.id, roles=[role])
    view, send = 1 << 10, SEND_MESSAGES
    channel = emu.add_channel(
        guild.id,
        "c",
        overwrites=[
            {"id": guild.id, "type": 0, "allow": "0", "deny": str(send)},
            {"id": role, "type": "role", "allow": str(send), "deny": "0"},
        ],
    )
    assert emu.permissions_for(guild.id, channel, user) & send
    emu.update_channel(
        channel,
        overwrites=[
            {"id": guild.id, "type": 0, "allow": "0", "deny": str(view)},
            {"id": user, "type": 1, "allow": str(view), "deny": "0"},
        ],
    )
    assert emu.permissions_for(guild.id, channel, user) & view
    assert emu.permissions_for(guild.id, channel, emu.bot_user_id) == 0  # no VIEW_CHANNEL -> nothing
    assert emu.permissions_for(guild.id, channel, emu.owner_id) == discord.Permissions.all().value


async def test_history_newest_first_with_footers(world: World, spec_violations: SpecViolations) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    sent = []
    for i in range(105):
        embed = discord.Embed(title=f"paper {i}").set_footer(text=f"arXiv · paperbot:{i:04d}")
        sent.append(await channel.send(embed=embed))
    emu.add_user_message(world.general, world.pleb, "impostor", embeds=[{"footer": {"text": "paperbot:0000"}}])

    def footers(messages: list[discord.Message]) -> list[str]:
        return [
            m.embeds[0].footer.text or "" if m.author.id == world.bot.user.id else "user"  # type: ignore[union-attr]
            for m in messages
        ]

    newest = [m async for m in channel.history(limit=100)]
    assert len(newest) == 100 and [m.id for m in newest] == sorted((m.id for m in newest), reverse=True)
    assert footers(newest[:3]) == ["user", "arXiv · paperbot:0104", "arXiv · paperbot:0103"]
    assert len([m async for m in channel.history(limit=None)]) == 106
    before = [m async for m in channel.history(limit=3, before=sent[50])]
    assert footers(before) == [f"arXiv · paperbot:{i:04d}" for i in (49, 48, 47)]
    after = [m async for m in channel.history(limit=3, after=sent[50])]  # oldest first by default
    assert footers(after) == [f"arXiv · paperbot:{i:04d}" for i in (51, 52, 53)]

    raw_after = await world.bot.http.logs_from(world.general, 100, after=sent[102].id)
    assert [m["embeds"][0]["footer"]["text"][-4:] for m in raw_after] == ["0000", "0104", "0103"]
    assert raw_after[0]["author"]["id"] == str(world.pleb)
    around = await world.bot.http.logs_from(world.general, 5, around=sent[50].id)
    assert [m["id"] for m in around] == [str(m.id) for m in reversed(sent[48:53])]
    with pytest.raises(discord.HTTPException) as exc:
        await world.bot.http.logs_from(world.general, 101)
    assert exc.value.status == 400 and exc.value.code == 50035
    assert spec_violations.excuse("GET", rf"/channels/{world.general}/messages") or spec_violations.spec is None

    emu.update_channel(
        world.general,
        overwrites=[
            {"id": world.guild_id, "type": 0, "allow": "0", "deny": str(READ_MESSAGE_HISTORY)},
        ],
    )
    assert await world.bot.http.logs_from(world.general, 10) == []  # Discord: no messages, no error
