"""The sender's turn-taking, against a fake transport (no Discord)."""

import asyncio
from collections import Counter
from collections.abc import Sequence

from bot.delivery.message import Outgoing
from bot.delivery.sender import Sender
from bot.models import Scope
from tests.conftest import T0, make_paper


class _RecordingTransport:
    """Posts succeed after a short round trip; the channel of every post is recorded in order."""

    def __init__(self) -> None:
        self.posts: list[int] = []

    async def send(self, channel_id: int, message: Outgoing, nonce: str) -> int:
        await asyncio.sleep(0.001)
        self.posts.append(channel_id)
        return len(self.posts)

    async def open_dm(self, user_id: int) -> int:
        raise AssertionError("no DMs here")

    async def recent_footers(self, channel_id: int, limit: int = 100) -> list[tuple[int, list[str]]]:
        return []

    async def create_post(self, forum_id: int, name: str, message: Outgoing, tags: Sequence[int]) -> int:
        raise AssertionError("no forums here")

    async def active_posts(self, guild_id: int, forum_id: int) -> list[tuple[int, str]]:
        raise AssertionError("no forums here")

    async def first_footers(self, post_id: int) -> list[str] | None:
        raise AssertionError("no forums here")


async def _queue(store, channels_by_guild: dict[int, list[int]], papers: int) -> None:
    subs = []
    for guild_id, channels in channels_by_guild.items():
        for channel_id in channels:
            subs.append(
                await store.add_subscription(
                    scope=Scope.GUILD,
                    user_id=1,
                    query="attention",
                    now=T0,
                    guild_id=guild_id,
                    channel_id=channel_id,
                )
            )
    await store.ingest(
        [make_paper(n) for n in range(papers)], lambda new, _: [(s.id, p.id) for s in subs for p in new], T0
    )


async def test_channels_take_turns_message_by_message(store):
    """A channel's backlog goes out interleaved with the others', not in one run that would empty its bucket."""
    channels = [101, 102, 103]
    await _queue(store, {1: channels}, papers=30)  # 3 messages of 10 embeds per channel
    transport = _RecordingTransport()
    result = await Sender(store, transport, lambda: T0, concurrency=1).drain()
    assert result.messages == 9 and result.delivered == 90
    assert all(set(transport.posts[i : i + 3]) == set(channels) for i in range(0, 9, 3)), transport.posts


async def test_a_small_server_is_not_queued_behind_a_large_one(store):
    big = list(range(201, 211))
    await _queue(store, {1: big, 2: [301]}, papers=30)
    transport = _RecordingTransport()
    await Sender(store, transport, lambda: T0, concurrency=2).drain()
    assert Counter(transport.posts) == {channel: 3 for channel in [*big, 301]}
    small = [i for i, channel in enumerate(transport.posts) if channel == 301]
    # Servers alternate for free slots: the small one's messages go out early, not after the 30 of the large one.
    assert small[-1] < 10, transport.posts


async def test_a_page_of_many_targets_is_drained_by_a_bounded_pool_off_the_loop(store, threads_of):
    """A page of thousands of targets must not become thousands of tasks (their steps and their garbage held the
    event loop for a tenth of a second at a time), and a page's rows and embeds are made in worker threads."""
    import threading

    import bot.delivery.batches as batches
    import bot.store.outbox as outbox
    from bot.delivery.sender import MIN_DRAINERS

    rows, rendered = threads_of(outbox, "_pending_from_row"), threads_of(batches, "render_paper_embed")
    channels = list(range(1000, 1000 + 3 * MIN_DRAINERS))
    await _queue(store, {1: channels}, papers=1)
    tasks: list[int] = []

    class _Counting(_RecordingTransport):
        async def send(self, channel_id: int, message: Outgoing, nonce: str) -> int:
            tasks.append(len(asyncio.all_tasks()))
            return await super().send(channel_id, message, nonce)

    transport = _Counting()
    result = await Sender(store, transport, lambda: T0, concurrency=1).drain()
    assert result.delivered == len(channels) and sorted(transport.posts) == channels
    assert max(tasks) <= MIN_DRAINERS + 5, max(tasks)  # the test's own task and the store's, besides the pool
    assert rows and rendered and threading.main_thread() not in rows + rendered
