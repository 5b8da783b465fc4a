"""Kill -9 the bot (a real subprocess) at random points during delivery; every paper arrives exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devtools.emulator import DiscordEmulator
from bot.matching import document_for, matches, parse_query
from bot.sources.huggingface import parse_daily_papers
from bot.store import Store
from tests.e2e.conftest import World, arxiv_ids, today

ROOT = Path(__file__).resolve().parents[2]
BROAD = "model OR learning OR language OR data OR attention OR prompt*"


def _toml(sections: dict[str, dict[str, Any]]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v) if isinstance(v, int | float) else f'"{v}"'

    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in values.items())
    return "\n".join(lines) + "\n"


class BotProcess:
    """`python -m bot run [flags]` against the emulator, with its log captured to a file."""

    def __init__(
        self, world: World, tmp: Path, *flags: str, poll_interval: float = 1, shards: dict[str, Any] | None = None
    ) -> None:
        self.world = world
        self.flags = flags
        tmp.mkdir(parents=True, exist_ok=True)
        self.config = tmp / "config.toml"
        self.log = tmp / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.config.write_text(
            _toml(
                {
                    "discord": {
                        "api_base_url": world.emulator.api_base,
                        "gateway_url": world.emulator.gateway_url,
                        "dev_guild_id": world.guild_id,
                    }
                    | (shards or {}),
                    "storage": world.storage_settings,
                    "sources.huggingface": {"url": world.hf.url, "poll_interval": poll_interval, "timeout": 5},
                    "delivery": {"interval": 0.2},
                }
            )
        )

    async def start(self) -> None:
        identified = self.world.emulator.identify_count
        env = {**os.environ, "DISCORD_TOKEN": DiscordEmulator.BOT_TOKEN, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(self.config),
                *self.flags,
                stdout=log,
                stderr=log,
                env=env,
                cwd=str(ROOT),
            )
        await self.world.wait_until(lambda: self.world.emulator.identify_count > identified, timeout=30)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()


async def _unsent(db: str | Path) -> tuple[int, int]:
    """(rows still pending, rows caught mid-send) in the outbox."""
    store = await Store.open(str(db))
    try:
        due = await store.due_deliveries(datetime.now(UTC) + timedelta(days=1), limit=100_000, per_target=100_000)
        return len(due), sum(1 for d in due if d.nonce is not None)
    finally:
        await store.close()


async def _successes(db: str | Path) -> int:
    store = await Store.open(str(db))
    try:
        state = await store.source_state("huggingface")
        return state.successes if state else 0
    finally:
        await store.close()


async def subscribe_and_publish(world: World, channels: list[int], items: list[dict[str, Any]]) -> list[str]:
    """Subscribe every channel to BROAD, publish ``items``, and return the ids of those that match, sorted."""
    staff = [world.moderator_id, world.emulator.owner_id]  # two people: each has a per-user cooldown
    for n, channel in enumerate(channels):
        result = await world.emulator.invoke(
            user_id=staff[n % 2],
            name="subscriptions",
            subcommand="add",
            options={"query": BROAD, "channel": channel},
            guild_id=world.guild_id,
            channel_id=world.channel_id,
        )
        assert "added" in result.content, result.content
    world.hf.publish(today(), items)
    # These tests are about exactly-once delivery, not matching (tested elsewhere), so the matcher decides.
    query = parse_query(BROAD)
    return sorted(p.id for p in parse_daily_papers(items) if matches(query, document_for(p)))


@pytest.mark.slow
async def test_kill_9_during_delivery_never_loses_or_doubles(world: World, items, tmp_path):
    rng = random.Random(20261128)
    channels = [world.channel_id, world.other_channel_id] + [
        world.emulator.add_channel(world.guild_id, f"feed-{n}") for n in range(6)
    ]
    world.hf.publish(today(), items[:5])
    bot = BotProcess(world, tmp_path)
    await bot.start()
    try:
        await world.wait_until(lambda: len(world.hf.requests) >= 2, timeout=20)
        while await _successes(world.storage) < 1:
            await asyncio.sleep(0.1)
        want = await subscribe_and_publish(world, channels, items[5:])
        assert len(want) > 50
        at_kill = await _kill_three_times(world, bot, r"/channels/\d+/messages", rng)
        # The kills landed during delivery: work was outstanding, some of it caught between "sending" and "sent".
        assert all(pending > 0 for pending, _ in at_kill), at_kill
        assert sum(mid_send for _, mid_send in at_kill) > 0, at_kill

        def delivered() -> bool:
            return all(len(arxiv_ids(world.emulator.messages(c))) >= len(want) for c in channels)

        await world.wait_until(delivered, timeout=60)
        await asyncio.sleep(1.5)  # anything doubled would show up now
        for channel in channels:
            counts = Counter(arxiv_ids(world.emulator.messages(channel)))
            assert sorted(counts) == sorted(want), channel
            assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v > 1}
        nonces = Counter(r.json["nonce"] for r in world.emulator.find_requests("POST", r"/channels/\d+/messages"))
        print(
            f"outbox at each kill (pending, mid-send): {at_kill}; "
            f"resends deduplicated by nonce: {sum(n - 1 for n in nonces.values())}"
        )
    finally:
        await bot.stop()
    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert DiscordEmulator.BOT_TOKEN not in log  # the token never reaches the logs


async def _kill_three_times(world: World, bot: BotProcess, path: str, rng: random.Random) -> list[tuple[int, int]]:
    """Kill -9 the bot three times, each a random moment after one more ``POST path`` went out, and restart it;
    returns the outbox (pending, mid-send) at each kill."""
    posts = lambda: len(world.emulator.find_requests("POST", path))  # noqa: E731
    at_kill = []
    for _ in range(3):
        seen = posts()
        await world.wait_until(lambda seen=seen: posts() > seen, timeout=30)
        await asyncio.sleep(rng.uniform(0.0, 0.2))
        await bot.kill()
        at_kill.append(await _unsent(world.storage))
        await bot.start()
    return at_kill


@pytest.mark.slow
async def test_kill_9_during_forum_posting_never_loses_or_doubles_a_post(world: World, items, tmp_path):
    """Forum posts take no nonce: after each kill the bot must find the posts it made among the active threads."""
    rng = random.Random(20261207)
    tags = ["nlp", "vision", "agents"]
    forums = [world.emulator.add_forum(world.guild_id, f"forum-{n}", tags=tags) for n in range(3)]
    world.hf.publish(today(), items[:5])
    bot = BotProcess(world, tmp_path)
    await bot.start()
    try:
        while await _successes(world.storage) < 1:
            await asyncio.sleep(0.1)
        staff = [world.moderator_id, world.emulator.owner_id]
        for n, forum in enumerate(forums):
            result = await world.emulator.invoke(
                user_id=staff[n % 2],
                name="subscriptions",
                subcommand="add",
                options={"query": BROAD, "channel": forum, "tags": tags[n]},
                guild_id=world.guild_id,
                channel_id=world.channel_id,
            )
            assert "one post per paper" in result.content, result.content
        world.hf.publish(today(), items[5:])
        query = parse_query(BROAD)
        want = [p.id for p in parse_daily_papers(items[5:]) if matches(query, document_for(p))]

        at_kill = await _kill_three_times(world, bot, r"/channels/\d+/threads", rng)
        assert all(pending > 0 for pending, _ in at_kill), at_kill

        def posted(forum: int) -> list[str]:
            return arxiv_ids([post["message"] for post in world.emulator.posts(forum)])

        await world.wait_until(lambda: all(len(posted(f)) >= len(want) for f in forums), timeout=90)
        await asyncio.sleep(1.5)  # anything doubled would show up now
        for n, forum in enumerate(forums):
            counts = Counter(posted(forum))
            assert sorted(counts) == sorted(want), forum
            assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v > 1}
            tag = world.emulator.forum_tag_id(forum, tags[n])
            assert all(post["applied_tags"] == [tag] for post in world.emulator.posts(forum))
        creates = len(world.emulator.find_requests("POST", r"/channels/\d+/threads"))
        lookups = len(world.emulator.find_requests("GET", rf"/guilds/{world.guild_id}/threads/active"))
        found = len(world.emulator.find_requests("GET", r"/channels/(\d+)/messages/\1"))
        print(
            f"outbox at each kill (pending, mid-send): {at_kill}; posts created: {creates} for "
            f"{len(want) * len(forums)} papers; active-thread lookups after restarts: {lookups}, "
            f"interrupted posts found there (first message read): {found}"
        )
        assert creates == len(want) * len(forums)  # no post was created twice, not even one later found
    finally:
        await bot.stop()


async def _rewind_to_sending(world: World, paper_ids: list[str], minutes_ago: float) -> None:
    """Put delivered rows back to "sending", as if the bot had died after Discord accepted the message."""
    when = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="microseconds")
    marks = ", ".join(f":p{n}" for n in range(len(paper_ids)))
    await world.execute_sql(
        f"UPDATE deliveries SET status = 'sending', attempted_at = :when WHERE paper_id IN ({marks})",
        {"when": when, **{f"p{n}": paper_id for n, paper_id in enumerate(paper_ids)}},
    )


async def test_old_interrupted_sends_are_checked_against_history(world: World, items):
    from tests.e2e.test_subscriptions import QUERY, expected_ids

    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    await world.subscriptions("add", query=QUERY)
    world.hf.publish(today(), items[30:])
    (message,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    await world.stop_bot()
    posted = expected_ids(items[30:])
    # Crash "after Discord accepted, before we recorded", 10 minutes ago: beyond the nonce window.
    await _rewind_to_sending(world, posted, minutes_ago=10)
    posts_before = len(world.emulator.find_requests("POST", r"/channels/\d+/messages"))
    await world.start_bot()
    await world.outbox_drained()
    assert world.emulator.find_requests("GET", rf"/channels/{world.channel_id}/messages")  # history was read
    assert len(world.emulator.find_requests("POST", r"/channels/\d+/messages")) == posts_before  # not resent
    for paper_id in posted:
        record = await world.bot.store.delivery_record(1, paper_id)
        assert record.status == "sent" and record.message_id == int(message["id"])

    # The same situation, but the message is not in the channel (say it never reached Discord): sent again, once.
    await world.stop_bot()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {DiscordEmulator.BOT_TOKEN}"}) as http:
        url = f"{world.emulator.api_base}/channels/{world.channel_id}/messages/{message['id']}"
        async with http.delete(url) as response:
            assert response.status == 204
    await _rewind_to_sending(world, posted, minutes_ago=10)
    await world.start_bot()
    (again,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    assert len(world.emulator.find_requests("POST", r"/channels/\d+/messages")) == posts_before + 1
    assert sorted(arxiv_ids([again])) == sorted(posted)
