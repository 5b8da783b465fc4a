"""The sender's Discord transport: posts embeds with discord.py, maps Discord's errors to policy, and paces
every bot request under Discord's global rate limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Protocol

import aiohttp
import discord

from bot.delivery.render import Embed
from bot.delivery.sender import Rejected, RetryLater, TargetGone
from bot.pacing import RatePacer

# 403 codes that are about pacing, not permission: try again later instead of pausing.
TRANSIENT_FORBIDDEN = {40003}
CANNOT_DM = 50007
# Discord allows 50 bot requests in any second. Evenly spaced at 48/s, a request may arrive up to ~40 ms off its
# slot (network jitter) before a second could hold a 51st.
REQUESTS_PER_SECOND = 48.0
# Interaction responses and followups (webhook calls with the interaction's token) are outside the global limit.
UNPACED_PATHS = ("/interactions/", "/webhooks/")


class Pacer(Protocol):
    """Something that makes a request wait for its turn: RatePacer, or the cluster's SharedRatePacer."""

    async def acquire(self) -> None: ...


def paced_requests(rate: float = REQUESTS_PER_SECOND, pacer: Pacer | None = None) -> aiohttp.TraceConfig:
    """An aiohttp trace for the client's session: every bot-authenticated REST request waits for its turn at
    ``rate`` per second just before it goes out. That covers the sender's posts, DM opens and history reads,
    discord.py's own retries after a 429 or 5xx, and anything else the bot asks, so together they stay under
    Discord's global limit; interaction replies are exempt (a command must answer within 3 s). ``pacer``
    replaces the process's own RatePacer (several processes of one bot share one schedule)."""
    turns = pacer or RatePacer(rate)

    async def before_request(
        _session: aiohttp.ClientSession, _context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        url = str(params.url)
        base = discord.http.Route.BASE  # read per request: point_client_at may move it
        if url.startswith(base) and not url[len(base) :].startswith(UNPACED_PATHS):
            await turns.acquire()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(before_request)
    return trace


def describe_http_error(exc: discord.HTTPException) -> str:
    """A short, user-facing reason such as ``Missing Permissions (403, code 50013)``."""
    if exc.code == CANNOT_DM:
        return "DMs closed"
    text = exc.text or exc.response.reason or "error"
    return f"{text} ({exc.status}, code {exc.code})" if exc.code else f"{text} ({exc.status})"


def _policy_error(exc: discord.HTTPException) -> Exception:
    """Map a Discord error to the sender's policy: pause the target, retry later, or give up on the payload."""
    if isinstance(exc, discord.Forbidden | discord.NotFound):
        if exc.code in TRANSIENT_FORBIDDEN:
            return RetryLater(describe_http_error(exc))
        return TargetGone(describe_http_error(exc))
    if exc.status == 429 or exc.status >= 500:
        return RetryLater(describe_http_error(exc), getattr(exc, "retry_after", None))
    return Rejected(describe_http_error(exc))


@contextmanager
def _as_policy(*, gone_on_400: bool = False) -> Iterator[None]:
    """Translate what discord.py and aiohttp raise into the sender's TargetGone / RetryLater / Rejected."""
    try:
        yield
    except discord.HTTPException as exc:
        if gone_on_400 and exc.status == 400:
            raise TargetGone(describe_http_error(exc)) from exc
        raise _policy_error(exc) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise RetryLater(f"network error: {type(exc).__name__}: {exc}") from exc


class DiscordTransport:
    """Posts one message of embeds into a channel by id (no cache needed), and opens DM channels."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def send(self, channel_id: int, embeds: Sequence[Embed], nonce: str) -> int:
        channel = self.client.get_partial_messageable(channel_id)
        with _as_policy():
            message = await channel.send(
                embeds=[discord.Embed.from_dict(e) for e in embeds],
                nonce=nonce,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        return message.id

    async def open_dm(self, user_id: int) -> int:
        """``POST /users/@me/channels``; the sender stores the result so each DM is opened once."""
        with _as_policy(gone_on_400=True):  # 400: an unknown user, nothing to deliver to
            channel = await self.client.create_dm(discord.Object(id=user_id))
        return channel.id

    async def recent_footers(self, channel_id: int, limit: int = 100) -> list[tuple[int, list[str]]]:
        """Our own recent messages in a channel with their embed footers (needs Read Message History)."""
        channel = self.client.get_partial_messageable(channel_id)
        me = self.client.user.id if self.client.user else None
        found: list[tuple[int, list[str]]] = []
        with _as_policy():
            async for message in channel.history(limit=limit):
                if message.author.id == me:
                    found.append((message.id, [e.footer.text or "" for e in message.embeds]))
        return found
