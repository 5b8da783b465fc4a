"""The sender's Discord transport: posts embeds with discord.py, maps Discord's errors to policy, and paces
every bot request under Discord's global rate limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Protocol

import aiohttp
import discord

from bot.delivery.message import Outgoing
from bot.delivery.transport import Rejected, RetryLater, TargetGone
from bot.pacing import RatePacer

# 403 codes that are about pacing, not permission: try again later instead of pausing.
TRANSIENT_FORBIDDEN = {40003}
CANNOT_DM = 50007
TAG_REQUIRED = 40067
TAGS_CHANGED = "the forum's tags changed: add this subscription again with tags the forum has"
# Discord allows 50 bot requests in any second. Evenly spaced at 48/s, a request may arrive up to ~40 ms off its
# slot (network jitter) before a second could hold a 51st.
REQUESTS_PER_SECOND = 48.0
# Interaction responses and followups (webhook calls with the interaction's token) are outside the global limit.
UNPACED_PATHS = ("/interactions/", "/webhooks/")


class Pacer(Protocol):
    """Something that makes a request wait for its turn: RatePacer, or the cluster's SharedRatePacer."""

    async def acquire(self) -> None: ...

    def release(self) -> None:
        """A request that waited its turn has ended (answered or failed)."""


def paced_requests(rate: float = REQUESTS_PER_SECOND, pacer: Pacer | None = None) -> aiohttp.TraceConfig:
    """An aiohttp trace for the client's session: every bot-authenticated REST request waits for its turn at
    ``rate`` per second just before it goes out. That covers the sender's posts, DM opens and history reads,
    discord.py's own retries after a 429 or 5xx, and anything else the bot asks, so together they stay under
    Discord's global limit; interaction replies are exempt (a command must answer within 3 s). ``pacer``
    replaces the process's own RatePacer (several processes of one bot share one schedule). The end of each paced
    request (response or failure) is reported back, so the pacer knows what is still in flight after a stall of
    the event loop."""
    turns = pacer or RatePacer(rate)

    async def before_request(
        _session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        url = str(params.url)
        base = discord.http.Route.BASE  # read per request: point_client_at may move it
        if url.startswith(base) and not url[len(base) :].startswith(UNPACED_PATHS):
            await turns.acquire()
            context.paced = True

    async def after_request(_session: aiohttp.ClientSession, context: SimpleNamespace, _params: object) -> None:
        if getattr(context, "paced", False):
            context.paced = False
            turns.release()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(before_request)
    trace.on_request_end.append(after_request)
    trace.on_request_exception.append(after_request)
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
def _message(message: Outgoing, nonce: str | None = None) -> Iterator[discord.http.MultipartParameters]:
    """A message body as discord.py builds it (embeds, nonce, the subscriptions' role pings), with the controls'
    components. Only those roles may ping: ``parse`` stays empty, so nothing in a paper can mention anyone."""
    mention_roles = message.mention_roles
    roles = [discord.Object(id=role) for role in mention_roles]
    with discord.http.handle_message_parameters(
        content=" ".join(f"<@&{role}>" for role in mention_roles) or None,
        embeds=[discord.Embed.from_dict(e) for e in message.embeds],
        nonce=nonce,
        allowed_mentions=discord.AllowedMentions(everyone=False, users=False, roles=roles or False, replied_user=False),
    ) as params:
        if params.payload is not None:
            if message.components:
                params.payload["components"] = list(message.components)
            if mention_roles:  # discord.py writes the ids as integers; Discord's spec has snowflake strings
                params.payload["allowed_mentions"]["roles"] = [str(role) for role in mention_roles]
        yield params


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
    """Posts one message of embeds (and its paper controls) into a channel or as a new forum post, by id (no cache
    needed), and opens DM channels.

    The controls are component dicts answered by the controls cog's DynamicItems, so they go into the request as
    they are: no View object is kept per message."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def send(self, channel_id: int, message: Outgoing, nonce: str) -> int:
        with _as_policy(), _message(message, nonce=nonce) as params:
            data = await self.client.http.send_message(channel_id, params=params)
        return int(data["id"])

    async def create_post(self, forum_id: int, name: str, message: Outgoing, tags: Sequence[int]) -> int:
        """``POST /channels/{forum}/threads``: a forum post whose first message carries the embeds; its id.

        A tag deleted from the forum (or a forum that now requires one) refuses every post of the subscription in
        the same way: TargetGone, so it is paused with the reason rather than failing paper after paper."""
        try:
            with _as_policy(), _message(message) as params:
                # The first message as Discord's CreateForumThreadRequest spells it (no ``tts`` in a post's message).
                first = {k: v for k, v in (params.payload or {}).items() if k != "tts"}
                payload = {"name": name, "applied_tags": [str(t) for t in tags], "message": first}
                route = discord.http.Route("POST", "/channels/{channel_id}/threads", channel_id=forum_id)
                data = await self.client.http.request(route, json=payload)
        except Rejected as exc:
            cause = exc.__cause__
            if isinstance(cause, discord.HTTPException) and (
                cause.code == TAG_REQUIRED or "applied_tags" in cause.text
            ):
                raise TargetGone(TAGS_CHANGED) from cause
            raise
        return int(data["id"])

    async def active_posts(self, guild_id: int, forum_id: int) -> list[tuple[int, str]]:
        """``GET /guilds/{guild}/threads/active``: (id, name) of the forum's active posts that the bot created."""
        me = str(self.client.user.id) if self.client.user else None
        with _as_policy():
            data = await self.client.http.get_active_threads(guild_id)
        return [
            (int(t["id"]), str(t.get("name") or ""))
            for t in data.get("threads", [])
            if t.get("parent_id") == str(forum_id) and t.get("owner_id") == me
        ]

    async def first_footers(self, post_id: int) -> list[str] | None:
        """The embed footers of a post's first message (its id is the post's); None when it cannot be read."""
        try:
            with _as_policy():
                data = await self.client.http.get_message(post_id, post_id)
        except (TargetGone, Rejected):
            return None  # no Read Message History, or the first message was deleted: judge by the name alone
        return [str(e.get("footer", {}).get("text") or "") for e in data["embeds"]]

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
