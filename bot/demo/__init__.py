"""``paperbot demo``: see paperbot work with no Discord account, no token, no network and no config file.

The real ``PaperBot`` runs in this process against the loopback Discord emulator and a fake Hugging Face API
serving bundled sample papers (``bot/demo/data/sample_papers.json``, in the API's shape); a short script plays
a reading group's session (``bot.demo.script``) and every answer and delivery is printed as terminal text.
``--interactive`` then lets you type slash commands yourself (``bot.demo.interactive``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from bot.demo.interactive import converse
from bot.demo.script import play
from bot.demo.session import CHANNELS, READER, SERVER_NAME, STAFF, DemoSession

INTRO = (
    f"paperbot demo: the real bot against a loopback Discord. Server {SERVER_NAME!r} with "
    f"{', '.join('#' + c for c in CHANNELS)}; {STAFF} is staff (Manage Channels), {READER} is a reader. "
    "Nothing leaves this machine."
)


async def run_demo(*, interactive: bool = False, out: TextIO = sys.stdout) -> int:
    """Play the scripted session (then, with ``interactive``, read commands from stdin); 0 when all went well."""
    print(INTRO, file=out, flush=True)
    async with DemoSession(out) as session:
        await play(session)
        print("\nWhat each place received:", file=out)
        session.print_lines(session.summary())
        if interactive:
            await converse(session)
    return 0


def main(interactive: bool = False) -> int:
    """Entry point for ``paperbot demo`` and ``python -m bot demo``."""
    try:
        return asyncio.run(run_demo(interactive=interactive))
    except BrokenPipeError:  # the reader stopped reading (`paperbot demo | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
