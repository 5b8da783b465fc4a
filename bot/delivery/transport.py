"""What the sender needs of a messaging platform, and what a transport may raise: Discord-free.

:class:`Transport` is implemented for Discord by ``bot.delivery.discord_transport``; tests use a recording one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot.delivery.forum import ForumTransport
from bot.delivery.message import Outgoing

# Discord returns the existing message for a repeated nonce only for "a few minutes"; past this age an
# interrupted send is looked for in the channel's history before it is sent again.
NONCE_WINDOW = timedelta(minutes=2)


class TargetGone(Exception):
    """The target refuses our messages for good (403 missing access, 404 unknown channel, DMs closed)."""


class RetryLater(Exception):
    """A transient failure (429, 5xx, network); ``retry_after`` seconds when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(Exception):
    """The request itself was refused (e.g. 400 invalid form body); resending it would fail again."""


class Transport(ForumTransport, Protocol):
    """Where messages go. Implementations pace their own requests under the platform's global limit."""

    async def send(self, channel_id: int, message: Outgoing, nonce: str) -> int:
        """Post one message (with its paper controls, pinging exactly its roles) and return its id; raises
        TargetGone, RetryLater or Rejected."""
        ...

    async def open_dm(self, user_id: int) -> int:
        """Open (or fetch) the DM channel with a user; raises TargetGone, RetryLater or Rejected."""
        ...

    async def recent_footers(self, channel_id: int, limit: int = 100) -> list[tuple[int, list[str]]]:
        """(message id, embed footer texts) of our own recent messages in a channel, newest first."""
        ...


@dataclass
class DrainResult:
    """What one drain did: the bot logs it after each run."""

    messages: int = 0
    delivered: int = 0
    paused_targets: int = 0
    retried: int = 0
    failed: int = 0
    digests: int = 0
