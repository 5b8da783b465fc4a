"""Self-test: injected faults and enforced rate limits, and how discord.py copes with them."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import discord

from bot.devtools.emulator import DiscordEmulator
from tests.devtools.conftest import World

AUTH = {"Authorization": f"Bot {DiscordEmulator.BOT_TOKEN}"}


async def get_statuses(emu: DiscordEmulator, paths: list[str]) -> list[tuple[int, dict[str, str]]]:
    """GET each path (bot-authenticated) in order; (status, headers) of each answer."""
    out = []
    async with aiohttp.ClientSession(headers=AUTH) as session:
        for path in paths:
            async with session.get(emu.api_base + path) as resp:
                out.append((resp.status, dict(resp.headers)))
    return out


async def test_random_faults_are_reproducible(emu: DiscordEmulator) -> None:
    me = ["/users/@me"] * 40
    emu.fail_randomly("GET", r"/users/@me", rate=0.5, seed=42)
    first = [status for status, _ in await get_statuses(emu, me)]
    emu.fail_randomly("GET", r"/users/@me", rate=0.5, seed=42)
    interleaved = [p for path in me for p in (path, f"/users/{emu.owner_id}")]  # non-matching: no RNG draw
    answers = await get_statuses(emu, interleaved)
    assert [status for status, _ in answers[::2]] == first
    assert {status for status, _ in answers[1::2]} == {200}
    assert {200, 429, 502} <= set(first) and 10 <= first.count(200) <= 30
    emu.fail_randomly("GET", r"/users/@me", rate=0.5, seed=43)
    assert [status for status, _ in await get_statuses(emu, me)] != first

    _, headers = next(a for a in answers if a[0] == 429)
    assert headers["Via"] and headers["X-RateLimit-Scope"] == "user" and headers["X-RateLimit-Remaining"] == "0"
    limited = next(r for r in emu.requests if r.status == 429)
    assert limited.response == {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
    assert next(r for r in emu.requests if r.status == 502).response == {"message": "502: Bad Gateway", "code": 0}

    emu.stop_failing_randomly()
    assert {status for status, _ in await get_statuses(emu, me[:5])} == {200}
    emu.fail_randomly("*", r"/users/.*", rate=1.0, faults=[(500, 0)], limit=3)
    assert [status for status, _ in await get_statuses(emu, me[:5])] == [500, 500, 500, 200, 200]
    emu.stop_failing_randomly()

    emu.fail_next("GET", r"/users/@me", status=429, retry_after=1.5, global_=True)
    [(status, headers)] = await get_statuses(emu, me[:1])
    assert status == 429 and headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert headers["Retry-After"] == "2" and emu.requests[-1].response["global"] is True
    async with aiohttp.ClientSession() as session, session.get(emu.api_base + "/users/@me") as resp:
        assert resp.status == 401  # no token
    all_429 = sum(1 for r in emu.requests if r.status == 429)
    assert emu.rate_limited_count == all_429
    assert emu.invalid_request_count == all_429 + 1
    assert len(emu.injected_faults) == sum(1 for r in emu.requests if r.status in (429, 500, 502))


async def test_bot_sends_through_random_faults(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    emu.fail_randomly("POST", posts, rate=0.3, seed=3)  # seed 3: 4x 429 and 2x 502 (~2 s of retry sleeps)
    for i in range(20):
        await channel.send(f"paper {i}")
    assert [m["content"] for m in emu.messages(world.general)] == [f"paper {i}" for i in range(20)]
    statuses = [r.status for r in emu.find_requests("POST", posts)]
    assert statuses.count(200) == 20 and {429, 502} <= set(statuses)
    assert len(statuses) == 20 + len(emu.injected_faults)


async def test_fail_after_create_and_the_nonce(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    emu.fail_after_create_next("POST", posts)  # created, then 502: discord.py retries with the same nonce
    sent = await channel.send("exactly once")
    assert [r.status for r in emu.find_requests("POST", posts)] == [502, 200]
    [stored] = emu.messages(world.general)
    assert stored["id"] == str(sent.id) and stored["content"] == "exactly once"

    emu.fail_after_create_next("POST", posts, status=500)
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=world.general)
    await world.bot.http.request(route, json={"content": "no nonce"})  # the retry posts a second copy
    assert [m["content"] for m in emu.messages(world.general)] == ["exactly once", "no nonce", "no nonce"]


async def test_global_429_holds_back_every_route(world: World) -> None:
    emu = world.emu
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    emu.fail_next("POST", posts, status=429, retry_after=0.5, global_=True)
    first = asyncio.create_task(channel.send("first"))
    await emu.wait_until(lambda: any(r.status == 429 for r in emu.find_requests("POST", posts)), 2)
    [limited] = [r for r in emu.find_requests("POST", posts) if r.status == 429]
    assert limited.response["global"] is True and limited.response["retry_after"] == 0.5
    assert limited.response_headers["X-RateLimit-Global"] == "true"
    assert limited.response_headers["X-RateLimit-Scope"] == "global" and limited.response_headers["Via"]
    await asyncio.sleep(0.05)  # discord.py has read the 429 and closed its global gate
    await world.bot.fetch_user(world.pleb)  # another route, another bucket: waits for the gate too
    [user_get] = emu.find_requests("GET", rf"/users/{world.pleb}")
    assert user_get.time - limited.time >= 0.45
    await first
    assert [r.status for r in emu.find_requests("POST", posts)] == [429, 200]


async def test_enforced_channel_bucket_paces_discord_py(world: World) -> None:
    emu = world.emu
    emu.enforce_rate_limits(channel_messages=(5, 1.0))
    channel = world.bot.get_channel(world.general)
    assert isinstance(channel, discord.TextChannel)
    posts = rf"/channels/{world.general}/messages"
    started = time.monotonic()
    for i in range(12):
        await channel.send(f"paced {i}")
    elapsed = time.monotonic() - started
    answered = emu.find_requests("POST", posts)
    assert [r.status for r in answered] == [200] * 12 and emu.rate_limited_count == 0
    assert elapsed >= 1.9  # two full windows waited for, on the headers alone
    assert [r.response_headers["X-RateLimit-Remaining"] for r in answered] == ["4", "3", "2", "1", "0"] * 2 + ["4", "3"]
    headers = answered[0].response_headers
    assert headers["X-RateLimit-Limit"] == "5" and 0 < float(headers["X-RateLimit-Reset-After"]) <= 1.0
    assert abs(float(headers["X-RateLimit-Reset"]) - time.time()) < 60

    other = emu.add_channel(world.guild_id, "firehose")  # a client that ignores the headers gets a 429
    async with aiohttp.ClientSession(headers=AUTH) as session:
        statuses = []
        for i in range(6):
            async with session.post(f"{emu.api_base}/channels/{other}/messages", json={"content": str(i)}) as resp:
                statuses.append(resp.status)
    assert statuses == [200] * 5 + [429]
    limited = emu.requests[-1]
    assert limited.response["global"] is False and 0 < limited.response["retry_after"] <= 1.0
    assert limited.response_headers["X-RateLimit-Scope"] == "user"
    assert limited.response_headers["X-RateLimit-Remaining"] == "0"
    assert limited.response_headers["X-RateLimit-Bucket"] == headers["X-RateLimit-Bucket"]  # one hash per route
    assert (emu.rate_limited_count, emu.invalid_request_count) == (1, 1)
    assert len(emu.messages(other)) == 5


async def test_global_limit_burst_recovers(world: World) -> None:
    emu = world.emu
    emu.enforce_rate_limits(global_per_second=10, channel_messages=(5, 1.0))
    channels = [emu.add_channel(world.guild_id, f"burst-{i}") for i in range(25)]
    await emu.wait_until(lambda: all(world.bot.get_channel(c) is not None for c in channels), 2)
    started = time.monotonic()
    await asyncio.gather(*(world.bot.get_channel(c).send(f"to {c}") for c in channels))  # type: ignore[union-attr]
    assert all([m["content"] for m in emu.messages(c)] == [f"to {c}"] for c in channels)
    limited = [r for r in emu.requests if r.status == 429]
    assert limited and emu.rate_limited_count == len(limited)
    assert all(r.response["global"] is True for r in limited)
    assert all(r.response_headers["X-RateLimit-Global"] == "true" for r in limited)
    posts = r"/channels/\d+/messages"
    assert emu.peak_requests(1.0, method="POST", path_pattern=posts, statuses=[200]) == 10
    rate = emu.requests_per_second(started, time.monotonic(), method="POST", path_pattern=posts, statuses=[200])
    assert 5 <= rate <= 15

    emu.enforce_rate_limits(global_per_second=1)  # interaction callbacks are exempt
    for _ in range(3):
        assert (await emu.invoke(user_id=world.pleb, name="ping", guild_id=world.guild_id)).content == "pong False"
    assert emu.rate_limited_count == len(limited)
