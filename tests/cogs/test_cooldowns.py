"""Command cooldowns: per user and per command, and per bot (a cog's commands are made once per process)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from discord import app_commands

from bot.cogs.ui import user_cooldown


async def test_a_cooldown_is_per_user_and_per_bot():
    async def command(interaction: Any) -> None:
        pass

    limited = user_cooldown(rate=1, per=60)(command)
    (check,) = limited.__discord_app_commands_checks__
    now = datetime.now(UTC)

    def invoked(client: object, user_id: int) -> Any:
        return SimpleNamespace(client=client, user=SimpleNamespace(id=user_id), created_at=now)

    bot, other_bot = object(), object()
    assert await check(invoked(bot, 7))
    with pytest.raises(app_commands.CommandOnCooldown):
        await check(invoked(bot, 7))
    assert await check(invoked(bot, 8))  # another member
    assert await check(invoked(other_bot, 7))  # another bot in the same process (the tests run many)
