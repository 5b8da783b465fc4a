"""What every part of the emulator shares: ids, the users/guilds/channels dicts, recorded requests, and
waiting for changes."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable

from bot.devtools.emulator.model import DISCORD_EPOCH_MS, Channel, Guild, RecordedRequest, User

GUILD_SPREAD = 2520  # the least common multiple of 1..10: see EmulatorCore._guild_snowflake


class EmulatorCore:
    """The state the emulator's parts (world, gateway, REST handlers, driver, faults) build on."""

    BOT_TOKEN = "emulator-bot-token"
    HEARTBEAT_INTERVAL_MS = 41250
    ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

    def __init__(self) -> None:
        super().__init__()
        self._last_id = 0
        self._guilds_minted = 0
        self.application_id: int = self._snowflake()
        self.bot_user_id: int = self.application_id  # modern bots: user id == application id
        self.owner_id: int = self._snowflake()
        #: The Developer Portal's Installation -> Installation Contexts -> User Install. Off: Discord refuses
        #: command syncs that declare the user install (``integration_types`` with 1) with 400 50035.
        self.user_install_enabled = True
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self._users_add(User(self.bot_user_id, "paperbot-emulator", bot=True))
        self._users_add(User(self.owner_id, "app-owner"))
        self.requests: list[RecordedRequest] = []
        self.internal_errors: list[Exception] = []  # emulator bugs (answered with 400 "emulator internal error")
        self.uploads: dict[int, bytes] = {}  # files users attached to slash commands, served at /attachments/
        self.cdn_base = ""  # where the loopback CDN serves them (set at start)
        self._changed = asyncio.Event()

    def _snowflake(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, candidate)
        return self._last_id

    def _guild_snowflake(self) -> int:
        """The next guild's id: a snowflake whose timestamp part (``id >> 22``, the shard formula's input) is
        the next one ≡ the guild's number (mod 2520), so consecutive guilds land on consecutive shards for any
        shard count dividing 2520 (1 to 10, 12, ...), as guilds made at different times spread on Discord."""
        number = self._guilds_minted
        self._guilds_minted += 1
        low = max((self._last_id >> 22) + 1, int(time.time() * 1000) - DISCORD_EPOCH_MS)
        timestamp = low + (number - low) % GUILD_SPREAD
        self._last_id = timestamp << 22
        return self._last_id

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Wait until ``predicate()`` is true (re-checked on every emulator change and every 20 ms)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.02))

    def _users_add(self, user: User) -> None:
        self.users[user.id] = user

    def _guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise AssertionError(f"unknown guild {guild_id}") from None

    def _channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise AssertionError(f"unknown channel {channel_id}") from None

    def find_requests(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded requests with that method (``*`` = any) whose path fully matches the regex."""
        rx = re.compile(path_pattern)
        return [r for r in self.requests if method in ("*", r.method) and rx.fullmatch(r.path)]
