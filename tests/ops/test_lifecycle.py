"""The process around the bot: what ``serve`` sets up before the bot starts."""

from __future__ import annotations

import sys

from bot.ops.lifecycle import LOOP_SWITCH_INTERVAL, serve


class _Bot:
    """Starts, notes the interpreter's switch interval, and stops at once (as a login failure would)."""

    def __init__(self) -> None:
        self.switch_intervals: list[float] = []

    async def start(self, token: str) -> None:
        self.switch_intervals.append(sys.getswitchinterval())

    async def close(self) -> None:
        pass


async def test_the_bot_runs_with_worker_threads_handing_the_interpreter_back_to_the_loop_within_1_ms():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # Python's default
    bot = _Bot()
    try:
        await serve(bot, "token")
    finally:
        sys.setswitchinterval(before)
    assert bot.switch_intervals == [LOOP_SWITCH_INTERVAL] and LOOP_SWITCH_INTERVAL <= 0.001
