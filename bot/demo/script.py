"""The scripted demo: a list of steps, each a line of what happens in the reading-group server.

Adding a step is one line. ``Click`` finds a paper control by its action word in the custom_id (a button, or on a
message of several papers the action's select, choosing its first paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.demo.session import READER, STAFF, DemoSession


@dataclass(frozen=True)
class Type:
    """Someone types a slash command (as in Discord's box) in a channel; the bot's answer is printed."""

    actor: str
    line: str
    where: str = "general"

    async def run(self, session: DemoSession) -> None:
        """Play the step."""
        await session.run(self.actor, self.line, self.where)


@dataclass(frozen=True)
class Arrive:
    """Hugging Face lists ``count`` more sample papers (None: all the rest); the bot polls and delivers."""

    count: int | None = None

    async def run(self, session: DemoSession) -> None:
        """Play the step."""
        await session.publish(self.count)


@dataclass(frozen=True)
class Click:
    """Someone clicks the control whose custom_id holds ``action`` on the newest message in ``where`` with one."""

    actor: str
    where: str
    action: str

    async def run(self, session: DemoSession) -> None:
        """Play the step."""
        await session.click(self.actor, self.where, self.action)


Step = Type | Arrive | Click

SCRIPT: Sequence[Step] = (
    Type(STAFF, '/subscriptions add query:"long context" OR "attention sink" channel:#papers mention:@readers'),
    Type(READER, "/alerts add query:prompt engineer*"),
    Type(STAFF, "/subscriptions add query:experts OR survey channel:#paper-forum tags:moe, surveys"),
    Arrive(),
    Click(READER, "papers", "like"),
    Click(READER, "papers", "save"),
    Type(READER, "/papers explain paper:2403.10778"),
)


async def play(session: DemoSession, steps: Sequence[Step] = SCRIPT) -> None:
    """Run each step, printing after each what every channel, forum post and DM newly received."""
    for step in steps:
        await step.run(session)
        session.show_new()
