"""``paperbot demo --interactive``: type slash commands into the demo server after the script has played.

``/subscriptions add query:diffusion channel:#papers`` runs as the staff member in #general; start a line with
a member's name and a colon (``ben: /alerts add query:agents``) to act as someone else, ``more`` to have
Hugging Face list the remaining sample papers, ``quit`` (or end of input) to stop.
"""

from __future__ import annotations

import asyncio
import re
import sys

from bot.demo.commands import CommandLineError
from bot.demo.session import STAFF, DemoSession

PROMPT = "paperbot-demo> "
HELP = (
    "Type a slash command as in Discord, e.g. /subscriptions add query:diffusion channel:#papers "
    "(as ada, staff) or ben: /alerts add query:agents (as ben). `more`: more papers arrive. `quit`: stop."
)
_ACTOR_RE = re.compile(r"^(\w+):\s*(/.*)$")


async def handle(session: DemoSession, line: str) -> bool:
    """Act on one typed line; False when the user wants to stop."""
    text = line.strip()
    if text in ("quit", "exit"):
        return False
    if text in ("", "help", "?"):
        session.say(HELP)
        return True
    if text == "more":
        if not await session.publish():
            session.say("No more sample papers; all of them have been listed.")
        session.show_new()
        return True
    actor, command = STAFF, text
    if (found := _ACTOR_RE.match(text)) is not None:
        actor, command = found.group(1), found.group(2)
    try:
        session.user_id(actor)
        await session.run(actor, command)
    except KeyError:
        session.say(f"There is no member called {actor!r} here.")
    except (CommandLineError, AssertionError, PermissionError) as exc:
        # AssertionError / PermissionError: what Discord itself would refuse (an option out of range, a command
        # this member cannot see).
        session.say(f"Discord would not send that: {exc}")
    await session.delivered()
    session.show_new()
    return True


async def converse(session: DemoSession) -> None:
    """Read lines from stdin until ``quit`` or end of input."""
    session.say(HELP)
    while True:
        print(PROMPT, end="", file=session.out, flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line or not await handle(session, line):
            return
