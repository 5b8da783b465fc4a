"""Which guilds and DMs this process serves when the bot runs as several sharded processes.

Discord puts a guild on shard ``(guild_id >> 22) % shard_count`` and every DM on shard 0; a process receives only
its shards' events and interactions. The same rule decides which process does a guild's work (channel and forum
deliveries, digests): the one whose shards include that guild's shard. DM work (alerts) is done by the process
running shard 0, the one that receives DM interactions: exactly one process, so a DM is never sent by two.
Discord-free: the store filters the outbox with it and the sender its digests.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.models import Scope

DM_SHARD = 0  # Discord delivers every DM event and DM interaction on shard 0


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord puts a guild on."""
    return (guild_id >> 22) % shard_count


def owns_guild(guild_id: int, shard_count: int, shard_ids: Collection[int] | None) -> bool:
    """Does the process running ``shard_ids`` (None: all of them) of ``shard_count`` serve this guild?"""
    return shard_ids is None or shard_of(guild_id, shard_count) in shard_ids


@dataclass(frozen=True, slots=True)
class Shards:
    """The shards one process runs out of ``count``: the part of the bot's guilds (and maybe DMs) it serves."""

    count: int
    ids: frozenset[int]

    def __post_init__(self) -> None:
        if self.count < 1 or not self.ids or not all(0 <= i < self.count for i in self.ids):
            raise ValueError(f"shards {sorted(self.ids)} are not a non-empty subset of 0..{self.count - 1}")

    @property
    def owns_dms(self) -> bool:
        """DMs arrive on shard 0: its process answers and sends them."""
        return DM_SHARD in self.ids

    def owns(self, scope: Scope, owner_id: int) -> bool:
        """Is a server's (``owner_id`` = guild id) or a user's (``owner_id`` = user id) work done here?"""
        if scope is Scope.USER:
            return self.owns_dms
        return owns_guild(owner_id, self.count, self.ids)


def process_shards(shard_count: int, shard_ids: Collection[int]) -> Shards | None:
    """This process's shards from ``[discord] shard_count``/``shard_ids`` (empty: all); None when it runs all of
    them (then it serves every guild and DM, whatever the count Discord recommends)."""
    if not shard_ids or set(shard_ids) == set(range(shard_count)):
        return None
    return Shards(shard_count, frozenset(shard_ids))
