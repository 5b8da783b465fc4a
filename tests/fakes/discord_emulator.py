"""A loopback Discord (REST + gateway) for driving the real, unmodified discord.py client in tests.

Point discord.py at it and run a ``commands.Bot`` in the test's event loop::

    emu = DiscordEmulator()
    await emu.start()
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    task = asyncio.create_task(bot.start(DiscordEmulator.BOT_TOKEN))
    await emu.wait_for_ready()
    result = await emu.invoke(user_id=..., name="subscribe", guild_id=...)
    page2 = await emu.click(user_id=..., message=result.message, custom_id="next")   # a button on the reply
    ...
    await bot.close(); await task; await emu.stop()   # restore Route.BASE / DEFAULT_GATEWAY too

The emulator keeps a small world (users, guilds, roles, channels, members, messages), answers the REST
routes discord.py uses for login, command sync, interactions, followups, messages and DMs, and speaks the
gateway protocol (HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME with replay, RECONNECT,
INVALIDATE_SESSION, member chunks). It mimics Discord where tests care: permission computation (the bot
gets 403 50001/50013 where it may not view/send; embed-only posts without EMBED_LINKS -> 403, embeds
with content are dropped), message/embed limits (400 code 50035), nonce idempotency, 404/403 codes,
429s discord.py retries, the 3 s interaction-response deadline (``interaction_deadline``) and the
client-side gates on slash commands. Gateway frames are plain TEXT (``compress=zlib-stream`` is ignored;
discord.py only inflates BINARY frames). MESSAGE_CREATE / GUILD_MEMBER_ADD are only dispatched when the
bot IDENTIFYed with the matching intent.

Notes for test authors:

* ``messages(cid)`` lists what the bot posted with POST /channels/{cid}/messages. Interaction responses
  and followups are in the ``InteractionResult`` (and, when not ephemeral, in
  ``messages(cid, include_interaction_messages=True)`` / GET history).
* ``click(message=..., custom_id=...)`` presses a button on any live message the bot created (channel
  message, interaction response or followup, ephemeral or not; action rows or components v2 nesting)
  like the Discord client would: only enabled buttons, only where the user can see the message. It
  follows the bot's answer (UPDATE_MESSAGE, DEFERRED_UPDATE_MESSAGE + edit, or a new message) and keeps
  the stored message current, so later clicks see the new components.
* Faults: ``fail_next`` (the next N matching requests fail, 429s incl. a global one), ``fail_randomly``
  (seeded, reproducible), ``fail_after_create_next`` (the message is created, then a 5xx: the nonce must
  save the retry), ``set_channel_error``. ``enforce_rate_limits()`` (off by default) adds Discord's global
  50/s limit and per-channel message buckets with the headers discord.py paces itself by;
  ``rate_limited_count``, ``invalid_request_count``, ``requests_per_second`` and ``peak_requests`` measure.
* ``add_user_message`` puts someone else's message into a channel's history (GET /channels/{id}/messages).
* An unexpected REST call gets 404 ``{"message": "404: Not Found", "code": 0}``; see ``requests`` /
  ``find_requests``. An emulator bug is answered with 400 "emulator internal error" (never a 5xx, which
  discord.py would retry for ~25 s) and kept in ``internal_errors``.
* discord.py sleeps 5 s before every non-initial IDENTIFY (``Client.before_identify_hook``): after
  ``invalidate_session()`` a stock bot needs ~5 s to come back; override that hook in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import hashlib
import http
import json
import logging
import math
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

_log = logging.getLogger(__name__)

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "DEFAULT_EVERYONE",
    "EMBED_LINKS",
    "MANAGE_CHANNELS",
    "READ_MESSAGE_HISTORY",
    "SEND_MESSAGES",
    "VIEW_CHANNEL",
    "Channel",
    "DiscordEmulator",
    "Guild",
    "InteractionResult",
    "Member",
    "RecordedRequest",
    "Role",
    "User",
]

JSON = dict[str, Any]

# --------------------------------------------------------------------------- permission bits
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
#: Equal to ``discord.Permissions.all().value`` in discord.py 2.7.
ALL_PERMISSIONS = 8866461766385663
#: A typical @everyone role of a new server.
DEFAULT_EVERYONE = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
#: What the bot's managed role grants by default.
BOT_ROLE_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS
#: What Discord reports as ``app_permissions`` in a DM with the bot.
DM_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
)

# Gateway intents the emulator honours when deciding what to dispatch.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12

DISCORD_EPOCH_MS = 1420070400000
EPHEMERAL = 1 << 6
LOADING = 1 << 7
IS_COMPONENTS_V2 = 1 << 15
#: Message flags a bot may set when it creates a channel message (SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS,
#: IS_COMPONENTS_V2).
_SETTABLE_FLAGS = (1 << 2) | (1 << 12) | IS_COMPONENTS_V2

_ERROR_MESSAGES = {
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50035: "Invalid Form Body",
}


def _status_message(status: int, code: int) -> str:
    """Discord's message for an error code, else e.g. ``500: Internal Server Error``."""
    if code in _ERROR_MESSAGES:
        return _ERROR_MESSAGES[code]
    try:
        return f"{status}: {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _ceil_ms(seconds: float) -> float:
    """Round up to whole milliseconds (rate-limit times must never tell a client to come back too early)."""
    return math.ceil(round(seconds * 1000, 6)) / 1000


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# --------------------------------------------------------------------------- world model
@dataclass
class User:
    """A Discord user known to the emulator."""

    id: int
    name: str
    bot: bool = False
    dms_closed: bool = False

    def to_dict(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": None if self.bot else self.name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
        }


@dataclass
class Role:
    """A guild role (the @everyone role's id equals the guild id)."""

    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None

    def to_dict(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Channel:
    """A guild channel (``guild_id`` set) or a DM channel (``recipient_id`` set)."""

    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    overwrites: list[JSON] = field(default_factory=list)
    position: int = 0
    parent_id: int | None = None
    recipient_id: int | None = None
    last_message_id: int | None = None


@dataclass
class Member:
    """A user's membership in a guild."""

    user_id: int
    roles: list[int]
    joined_at: str = field(default_factory=_now_iso)
    nick: str | None = None


@dataclass
class Guild:
    """A guild. ``everyone_permissions`` reads/writes the @everyone role."""

    id: int
    name: str
    owner_id: int
    bot_role_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    joined_at: str = field(default_factory=_now_iso)

    @property
    def everyone_permissions(self) -> int:
        return self.roles[self.id].permissions

    @everyone_permissions.setter
    def everyone_permissions(self, value: int) -> None:
        self.roles[self.id].permissions = value


@dataclass
class RecordedRequest:
    """One REST request as the emulator saw it (``path`` is without ``/api/v10``)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 0
    time: float = 0.0  # time.monotonic() when the request arrived
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)  # what the emulator added (rate limits, Via)


@dataclass
class InteractionResult:
    """What the bot did with one interaction. Lists keep filling as more followups/edits arrive.

    For ``invoke``: ``data`` is the callback's ``data`` (type 4/8/9); for a deferral (type 5) it is the
    payload of the first followup or ``@original`` edit that completed it. For ``click``: ``data`` is the
    resulting message object -- the clicked message as updated (type 7, or 6 + edit) or the new message
    (type 4, or 5 + followup/edit). ``followups`` holds followup payloads other than the one that
    completed a deferral; ``edits`` every ``PATCH @original`` payload. ``message`` is a snapshot of the
    stored original-response message (for a type 6/7 click: the clicked message), e.g. to ``click`` on.
    """

    interaction_id: int
    token: str
    response_type: int = 0
    data: JSON = field(default_factory=dict)
    callback: JSON = field(default_factory=dict)
    followups: list[JSON] = field(default_factory=list)
    followup_messages: list[JSON] = field(default_factory=list)
    edits: list[JSON] = field(default_factory=list)
    original_message: JSON | None = None
    deferred_flags: int = 0

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")

    @property
    def embeds(self) -> list[JSON]:
        return list(self.data.get("embeds") or [])

    @property
    def components(self) -> list[JSON]:
        return list(self.data.get("components") or [])

    @property
    def message(self) -> JSON:
        """The stored original-response message (id, channel_id, content, embeds, components, flags,
        interaction_metadata, ...) as it is now; a copy."""
        if self.original_message is None:
            raise AssertionError(
                f"interaction {self.interaction_id} has no response message (response type {self.response_type})"
            )
        return copy.deepcopy(self.original_message)

    @property
    def ephemeral(self) -> bool:
        if self.original_message is not None:
            return bool(int(self.original_message.get("flags") or 0) & EPHEMERAL)
        if self.response_type in (5, 6):
            return bool(self.deferred_flags & EPHEMERAL)
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)


@dataclass
class _Pending:
    """Emulator-side state of one dispatched interaction."""

    payload: JSON
    result: InteractionResult
    created: float
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    completed: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None
    choices: list[JSON] | None = None
    rejected: list[str] = field(default_factory=list)  # error answers to callback/followup attempts
    clicked: JSON | None = None  # the stored message whose component was clicked (type 3)

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    remaining: int
    retry_after: float
    global_: bool


@dataclass
class _RandomFaults:
    """State of ``fail_randomly``: one RNG drives both the "fail?" and the "which fault?" draws."""

    method: str
    pattern: re.Pattern[str]
    rate: float
    faults: tuple[tuple[int, int], ...]
    rng: random.Random
    retry_after: float
    limit: int | None
    injected: int = 0


@dataclass
class _Bucket:
    """One per-channel message bucket: a fixed window that opens with its first request."""

    reset_at: float  # time.monotonic() when the window ends
    used: int = 0


@dataclass
class _RateLimits:
    """State of ``enforce_rate_limits``."""

    global_per_second: int
    channel_limit: int
    channel_period: float
    global_window: deque[float] = field(default_factory=deque)  # admission times in the last second
    buckets: dict[int, _Bucket] = field(default_factory=dict)  # by channel id


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str = "", errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message or _status_message(status, code)
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def _form_error(path: Iterable[str | int], code: str, message: str) -> _ApiError:
    """A 400/50035 with Discord's nested ``errors`` shape for the field at ``path``."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(list(path)):
        errors = {str(key): errors}
    return _ApiError(400, 50035, "Invalid Form Body", errors)


_Handler = Callable[[RecordedRequest, dict[str, str]], Awaitable[tuple[int, Any]]]


# --------------------------------------------------------------------------- gateway plumbing
class _Connection:
    """One gateway websocket; frames go out through a queue so their order is the dispatch order."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.request = request
        self.queue: asyncio.Queue[JSON | None] = asyncio.Queue()
        self.live = False  # identified/resumed: receives dispatches
        self.closed = asyncio.Event()

    def send(self, payload: JSON) -> None:
        if not self.closed.is_set():
            self.queue.put_nowait(payload)


@dataclass
class _Session:
    session_id: str
    intents: int
    seq: int = 0
    events: list[JSON] = field(default_factory=list)
    conn: _Connection | None = None
    resumable: bool = True


# --------------------------------------------------------------------------- the emulator
class DiscordEmulator:
    """REST + gateway Discord on 127.0.0.1 for one bot (see the module docstring)."""

    BOT_TOKEN = "emulator-bot-token"
    HEARTBEAT_INTERVAL_MS = 41250
    ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

    def __init__(self) -> None:
        self._last_id = 0
        self.application_id: int = self._snowflake()
        self.bot_user_id: int = self.application_id  # modern bots: user id == application id
        self.owner_id: int = self._snowflake()
        self.api_base = ""
        self.gateway_url = ""
        #: Seconds the bot has to answer an interaction callback (Discord: 3). None disables the check.
        self.interaction_deadline: float | None = 3.0

        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self._users_add(User(self.bot_user_id, "paperbot-emulator", bot=True))
        self._users_add(User(self.owner_id, "app-owner"))

        self.requests: list[RecordedRequest] = []
        self.internal_errors: list[Exception] = []  # emulator bugs (answered with 400 "emulator internal error")
        self.gateway_received: list[JSON] = []  # every frame the client sent (op, d)
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.interactions: list[InteractionResult] = []
        self.identify_count = 0
        self.resume_count = 0
        self.intents: int | None = None

        self._sent: dict[int, list[JSON]] = {}  # POST /channels/{id}/messages results, per channel
        self._history: dict[int, list[JSON]] = {}  # everything visible in the channel
        self._message_index: dict[str, JSON] = {}  # every live message the bot created (incl. ephemeral), by id
        self._dm_by_user: dict[int, int] = {}
        self._channel_errors: dict[int, tuple[int, int, str]] = {}
        self._faults: list[_Fault] = []
        self._after_create_faults: list[_Fault] = []
        self._random_faults: _RandomFaults | None = None
        self._rate_limits: _RateLimits | None = None
        #: 429s the emulator answered (rate-limit enforcement and injected faults).
        self.rate_limited_count = 0
        #: Every 401, 403 and 429 answered: what Discord's Cloudflare ban counts (10,000 per 10 minutes).
        self.invalid_request_count = 0
        #: (method, path, status) of every injected fault (``fail_next``, ``fail_randomly``,
        #: ``fail_after_create_next``), in order.
        self.injected_faults: list[tuple[str, str, int]] = []
        self._pending: dict[int, _Pending] = {}
        self._pending_by_token: dict[str, _Pending] = {}
        self._session: _Session | None = None
        self._connections: set[_Connection] = set()
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = []
        self._build_routes()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve REST under /api/v10 and the gateway at /gateway."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_route("*", "/{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.api_base = f"http://127.0.0.1:{port}/api/v10"
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"

    async def stop(self) -> None:
        """Close every gateway socket and the server. Close the bot first, or it will try to reconnect."""
        for conn in list(self._connections):
            conn.live = False
            await conn.ws.close(code=1001, message=b"emulator stopping")
        self._set_ready()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ ids, waiting
    def _snowflake(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, candidate)
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

    async def wait_for_ready(self, timeout: float = 10) -> None:
        """Wait until the bot has IDENTIFYed (and got READY + GUILD_CREATEs) or RESUMEd."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"bot did not connect to the gateway within {timeout} s") from None

    async def wait_for_messages(self, channel_id: int, count: int, timeout: float = 10) -> list[JSON]:
        """Wait until at least ``count`` messages were posted to the channel; return them all."""
        try:
            await self.wait_until(lambda: len(self._sent.get(channel_id, [])) >= count, timeout)
        except TimeoutError:
            have = len(self._sent.get(channel_id, []))
            raise TimeoutError(f"{have} of {count} messages in channel {channel_id} after {timeout} s") from None
        return self.messages(channel_id)

    # ------------------------------------------------------------------ world setup
    def _users_add(self, user: User) -> None:
        self.users[user.id] = user

    def add_user(self, name: str = "user", *, user_id: int | None = None, dms_closed: bool = False) -> int:
        """Create a user (who can be DMed unless ``dms_closed``); return its id."""
        uid = user_id if user_id is not None else self._snowflake()
        self._users_add(User(uid, name, dms_closed=dms_closed))
        return uid

    def add_guild(
        self,
        name: str,
        *,
        guild_id: int | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE,
        owner_id: int | None = None,
    ) -> Guild:
        """Create a guild with @everyone, the bot's managed role, the bot and the owner as members."""
        gid = guild_id if guild_id is not None else self._snowflake()
        owner = owner_id if owner_id is not None else self.owner_id
        if owner not in self.users:
            self.add_user(f"owner-{owner}", user_id=owner)
        guild = Guild(gid, name, owner, bot_role_id=self._snowflake())
        guild.roles[gid] = Role(gid, "@everyone", everyone_permissions, position=0)
        guild.roles[guild.bot_role_id] = Role(
            guild.bot_role_id,
            self.users[self.bot_user_id].name,
            BOT_ROLE_PERMISSIONS,
            position=1,
            managed=True,
            bot_id=self.bot_user_id,
        )
        guild.members[self.bot_user_id] = Member(self.bot_user_id, [guild.bot_role_id])
        guild.members[owner] = Member(owner, [])
        self.guilds[gid] = guild
        self._dispatch_if(INTENT_GUILDS, "GUILD_CREATE", lambda: self._guild_create_payload(guild, joined=True))
        self._notify()
        return guild

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        channel_id: int | None = None,
        overwrites: list[JSON] | None = None,
        type: int = 0,
        parent_id: int | None = None,
    ) -> int:
        """Create a guild channel; ``overwrites`` are ``{id, type (0 role/1 member), allow, deny}``."""
        guild = self._guild(guild_id)
        cid = channel_id if channel_id is not None else self._snowflake()
        channel = Channel(
            cid,
            type,
            name,
            guild_id=guild_id,
            overwrites=[self._norm_overwrite(o) for o in overwrites or []],
            position=len(guild.channel_ids),
            parent_id=parent_id,
        )
        self.channels[cid] = channel
        guild.channel_ids.append(cid)
        self._dispatch_if(INTENT_GUILDS, "CHANNEL_CREATE", lambda: self._channel_dict(channel))
        self._notify()
        return cid

    def update_channel(self, channel_id: int, *, name: str | None = None, overwrites: list[JSON] | None = None) -> None:
        """Change a guild channel's name/overwrites (dispatches CHANNEL_UPDATE when connected)."""
        channel = self._channel(channel_id)
        if name is not None:
            channel.name = name
        if overwrites is not None:
            channel.overwrites = [self._norm_overwrite(o) for o in overwrites]
        self._dispatch_if(INTENT_GUILDS, "CHANNEL_UPDATE", lambda: self._channel_dict(channel))
        self._notify()

    def remove_channel(self, channel_id: int) -> None:
        """Delete a guild channel: later posts get 404 code 10003 (dispatches CHANNEL_DELETE)."""
        channel = self.channels.pop(channel_id)
        if channel.guild_id is not None:
            self.guilds[channel.guild_id].channel_ids.remove(channel_id)
            self._dispatch_if(INTENT_GUILDS, "CHANNEL_DELETE", lambda: self._channel_dict(channel))
        self._notify()

    def add_role(self, guild_id: int, name: str, permissions: int) -> int:
        """Create a role (above the existing ones); return its id."""
        guild = self._guild(guild_id)
        rid = self._snowflake()
        role = Role(rid, name, permissions, position=len(guild.roles))
        guild.roles[rid] = role
        self._dispatch_if(
            INTENT_GUILDS, "GUILD_ROLE_CREATE", lambda: {"guild_id": str(guild_id), "role": role.to_dict()}
        )
        self._notify()
        return rid

    def add_member(
        self, guild_id: int, *, user_id: int | None = None, name: str = "user", roles: Iterable[int] = ()
    ) -> int:
        """Add a member (creating the user unless it exists); return the user id."""
        guild = self._guild(guild_id)
        uid = user_id if user_id is not None and user_id in self.users else self.add_user(name, user_id=user_id)
        role_ids = list(roles)
        for rid in role_ids:
            if rid not in guild.roles:
                raise AssertionError(f"role {rid} is not in guild {guild_id}")
        guild.members[uid] = Member(uid, role_ids)
        self._dispatch_if(
            INTENT_GUILD_MEMBERS,
            "GUILD_MEMBER_ADD",
            lambda: {**self._member_dict(guild, guild.members[uid]), "guild_id": str(guild_id)},
        )
        self._notify()
        return uid

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

    @staticmethod
    def _norm_overwrite(ow: JSON) -> JSON:
        kind = ow.get("type", 0)
        kind = {"role": 0, "member": 1}.get(kind, kind) if isinstance(kind, str) else int(kind)
        return {
            "id": str(ow["id"]),
            "type": kind,
            "allow": str(int(ow.get("allow", 0))),
            "deny": str(int(ow.get("deny", 0))),
        }

    # ------------------------------------------------------------------ permissions
    def _base_permissions(self, guild: Guild, user_id: int) -> int:
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(user_id)
        if member is None:
            raise AssertionError(f"user {user_id} is not a member of guild {guild.id}")
        perms = guild.roles[guild.id].permissions
        for rid in member.roles:
            perms |= guild.roles[rid].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_for(self, guild_id: int, channel_id: int, user_id: int) -> int:
        """Discord's algorithm: owner/ADMINISTRATOR -> all; else @everyone | roles, then the channel's
        @everyone, role (deny then allow, unioned) and member overwrites; then the implicit rules
        discord.py also applies (no VIEW_CHANNEL -> 0; no SEND_MESSAGES -> no embeds/files/tts/@everyone)."""
        guild = self._guild(guild_id)
        channel = self._channel(channel_id)
        if channel.guild_id != guild_id:
            raise AssertionError(f"channel {channel_id} is not in guild {guild_id}")
        perms = self._base_permissions(guild, user_id)
        if perms == ALL_PERMISSIONS:  # owner or ADMINISTRATOR
            return ALL_PERMISSIONS
        member_roles = {str(r) for r in guild.members[user_id].roles}
        overwrites = channel.overwrites
        if channel.type in (10, 11, 12) and channel.parent_id in self.channels:  # threads use the parent's
            overwrites = self.channels[channel.parent_id].overwrites
        for ow in overwrites:
            if ow["type"] == 0 and ow["id"] == str(guild_id):
                perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
        allow = deny = 0
        for ow in overwrites:
            if ow["type"] == 0 and ow["id"] in member_roles:
                allow |= int(ow["allow"])
                deny |= int(ow["deny"])
        perms = (perms & ~deny) | allow
        for ow in overwrites:
            if ow["type"] == 1 and ow["id"] == str(user_id):
                perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
        if not perms & VIEW_CHANNEL:
            return 0
        if not perms & SEND_MESSAGES:
            perms &= ~(SEND_TTS_MESSAGES | MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES)
        return perms

    def _is_admin(self, guild: Guild, user_id: int) -> bool:
        return user_id == guild.owner_id or self._base_permissions(guild, user_id) == ALL_PERMISSIONS

    # ------------------------------------------------------------------ inspection
    def messages(self, channel_id: int, *, include_interaction_messages: bool = False) -> list[JSON]:
        """Messages the bot created in a channel with POST /channels/{id}/messages, oldest first (each
        with ``allowed_mentions`` as received). ``include_interaction_messages`` adds the non-ephemeral
        interaction responses/followups shown there (what GET /channels/{id}/messages returns)."""
        source = self._history if include_interaction_messages else self._sent
        return [copy.deepcopy(m) for m in source.get(channel_id, [])]

    def add_user_message(
        self, channel_id: int, user_id: int, content: str = "", *, embeds: list[JSON] | None = None
    ) -> JSON:
        """Put a message by someone other than the bot (a user or another bot added with ``add_user``) into
        a channel's history, e.g. to check that the bot only picks its own messages out of GET history.
        It is not in ``messages()`` (the bot's posts) and cannot be clicked; MESSAGE_CREATE is dispatched
        under the matching intent. Returns a copy of the stored message."""
        channel = self._channel(channel_id)
        user = self.users.get(user_id)
        if user is None or user_id == self.bot_user_id:
            raise AssertionError(f"unknown user {user_id} (or the bot itself: post with the bot instead)")
        if channel.guild_id is not None and user_id not in self.guilds[channel.guild_id].members:
            raise AssertionError(f"user {user_id} is not a member of guild {channel.guild_id}")
        if channel.recipient_id is not None and channel.recipient_id != user_id:
            raise AssertionError(f"channel {channel_id} is user {channel.recipient_id}'s DM, not {user_id}'s")
        msg = self._new_message(channel, {"content": content, "embeds": embeds or []})
        self._message_index.pop(msg["id"], None)
        msg["author"] = user.to_dict()
        self._history.setdefault(channel.id, []).append(msg)
        self._message_event(channel, msg)
        self._notify()
        return copy.deepcopy(self._public_message(msg))

    def dm_channel_id(self, user_id: int) -> int | None:
        return self._dm_by_user.get(user_id)

    def find_requests(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded requests with that method (``*`` = any) whose path fully matches the regex."""
        rx = re.compile(path_pattern)
        return [r for r in self.requests if method in ("*", r.method) and rx.fullmatch(r.path)]

    # ------------------------------------------------------------------ fault injection
    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int,
        code: int = 0,
        message: str = "",
        times: int = 1,
        retry_after: float = 0.05,
        global_: bool = False,
    ) -> None:
        """Answer the next ``times`` requests with that method (``*`` = any) whose path (without
        /api/v10) fully matches ``path_pattern`` with this error, without letting them take effect (no
        message is created). 429s carry what discord.py needs to retry (JSON body with ``retry_after`` and
        ``global``, ``Via``, ``X-RateLimit-*`` with scope "user"); with ``global_=True`` the body says
        ``"global": true`` and the headers ``X-RateLimit-Global: true`` / ``X-RateLimit-Scope: global``, and
        discord.py holds back every new request (any route) until ``retry_after`` has passed.
        Other statuses get ``{"message", "code"}``. Checked before ``fail_randomly``."""
        self._faults.append(
            _Fault(method.upper(), re.compile(path_pattern), status, code, message, times, retry_after, global_)
        )

    def fail_after_create_next(
        self,
        method: str,
        path_pattern: str,
        status: int = 502,
        times: int = 1,
        *,
        code: int = 0,
        message: str = "",
    ) -> None:
        """Let the next ``times`` matching requests take effect (the message is created, the edit applied)
        and then answer them with this error -- Discord timing out after it committed. discord.py retries
        500/502/504 (after 1 s, 3 s, ...); a message POST retried with the same nonce (discord.py sends a
        random one with every ``send`` and ``enforce_nonce``) gets the existing message back, a retry
        without a nonce creates a duplicate. Only requests the emulator would have answered with a 2xx are
        turned into errors, and only they use up ``times``."""
        self._after_create_faults.append(
            _Fault(method.upper(), re.compile(path_pattern), status, code, message, times, 0.05, False)
        )

    def fail_randomly(
        self,
        method: str,
        path_pattern: str,
        *,
        rate: float,
        faults: Sequence[tuple[int, int]] = ((429, 0), (502, 0)),
        seed: int = 0,
        retry_after: float = 0.05,
        limit: int | None = None,
    ) -> None:
        """Fail matching requests at random, reproducibly. Each request with that method (``*`` = any) whose
        path (without /api/v10) fully matches ``path_pattern`` fails with probability ``rate``; the fault,
        one ``(status, code)`` of ``faults``, is picked by the same ``random.Random(seed)``, so the same
        sequence of matching requests gets the same faults. Failed requests take no effect (nothing is
        created). 429s look like ``fail_next``'s (``retry_after``, ``Via``, ``X-RateLimit-*``, scope
        "user"); other statuses get a JSON ``{"message", "code"}`` body. ``limit``: inject at most that many
        faults. Replaces an earlier ``fail_randomly``; ``fail_next`` faults are served first. Every injected
        fault is appended to ``injected_faults``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], not {rate}")
        if not faults:
            raise ValueError("faults must not be empty")
        for status, _code in faults:
            if status < 400:
                raise ValueError(f"a fault needs an error status, not {status}")
        self._random_faults = _RandomFaults(
            method.upper(),
            re.compile(path_pattern),
            rate,
            tuple((int(s), int(c)) for s, c in faults),
            random.Random(seed),
            retry_after,
            limit,
        )

    def stop_failing_randomly(self) -> None:
        """Turn ``fail_randomly`` off (``injected_faults`` keeps the record)."""
        self._random_faults = None

    def set_channel_error(self, channel_id: int, status: int, code: int, message: str = "") -> None:
        """Every message post to that channel fails with this error until cleared."""
        self._channel_errors[channel_id] = (status, code, message or _ERROR_MESSAGES.get(code, "Error"))

    def clear_channel_error(self, channel_id: int) -> None:
        self._channel_errors.pop(channel_id, None)

    @staticmethod
    def _take_fault(faults: list[_Fault], method: str, path: str) -> _Fault | None:
        for fault in faults:
            if fault.remaining > 0 and fault.method in ("*", method) and fault.pattern.fullmatch(path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return fault
        return None

    def _take_random_fault(self, method: str, path: str) -> tuple[int, int] | None:
        rf = self._random_faults
        if rf is None or (rf.limit is not None and rf.injected >= rf.limit):
            return None
        if rf.method not in ("*", method) or not rf.pattern.fullmatch(path):
            return None
        if rf.rng.random() >= rf.rate:
            return None
        fault = rf.faults[rf.rng.randrange(len(rf.faults))]
        rf.injected += 1
        return fault

    # ------------------------------------------------------------------ rate limits
    def enforce_rate_limits(
        self, *, global_per_second: int = 50, channel_messages: tuple[int, float] = (5, 5.0)
    ) -> None:
        """Enforce Discord's rate limits (off by default; calling again resets the counters' windows).

        * Global: more than ``global_per_second`` bot-authenticated REST requests in any 1-second window
          (sliding) -> 429 ``{"message": "You are being rate limited.", "retry_after": <s until the
          oldest request in the window is 1 s old>, "global": true}`` with ``X-RateLimit-Global: true``,
          ``X-RateLimit-Scope: global`` and ``Via``. Interaction callbacks and webhook (followup) requests
          are exempt, as on Discord. discord.py sleeps ``retry_after`` and blocks new requests meanwhile,
          but does not pace itself under this limit.
        * Per channel: ``POST /channels/{id}/messages`` at most ``channel_messages[0]`` per
          ``channel_messages[1]`` seconds per channel (a fixed window opened by its first request; Discord's
          is 5 per 5 s) -> 429 with scope "user". Every response of that route carries the bucket headers
          discord.py paces itself with: ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds),
          ``-Reset-After`` (seconds) and ``-Bucket`` -- one hash for the route, the channel being the major
          parameter, as on Discord (discord.py keys its buckets by hash + major parameter), so a client
          that honours them gets no 429 from this bucket.

        Requests failed by ``fail_next`` / ``fail_randomly`` are answered before these checks and are not
        counted. See ``rate_limited_count``, ``invalid_request_count``, ``requests_per_second`` and
        ``peak_requests``."""
        limit, period = channel_messages
        if global_per_second < 1 or limit < 1 or period <= 0:
            raise ValueError("rate limits must be positive")
        self._rate_limits = _RateLimits(global_per_second, int(limit), float(period))

    def stop_enforcing_rate_limits(self) -> None:
        """Turn ``enforce_rate_limits`` off again."""
        self._rate_limits = None

    @property
    def request_times(self) -> list[float]:
        """Arrival time (``time.monotonic()``) of every recorded REST request, in order."""
        return [r.time for r in self.requests]

    def _throughput_sample(self, method: str, path_pattern: str, statuses: Iterable[int] | None) -> list[float]:
        wanted = None if statuses is None else set(statuses)
        return [r.time for r in self.find_requests(method, path_pattern) if wanted is None or r.status in wanted]

    def requests_per_second(
        self,
        window_start: float | None = None,
        window_end: float | None = None,
        *,
        method: str = "*",
        path_pattern: str = r".*",
        statuses: Iterable[int] | None = None,
    ) -> float:
        """Sustained rate of recorded requests (method ``*`` = any, path regex fullmatch, answered with one
        of ``statuses`` if given, e.g. ``[200]``) that arrived within ``[window_start, window_end]``
        (``time.monotonic()`` values; default: the first/last such request), per second. 0.0 when nothing
        matched or the window has no length."""
        times = self._throughput_sample(method, path_pattern, statuses)
        if not times:
            return 0.0
        start = times[0] if window_start is None else window_start
        end = times[-1] if window_end is None else window_end
        if end <= start:
            return 0.0
        return sum(1 for t in times if start <= t <= end) / (end - start)

    def peak_requests(
        self,
        window: float = 1.0,
        *,
        method: str = "*",
        path_pattern: str = r".*",
        statuses: Iterable[int] | None = None,
    ) -> int:
        """The most matching requests (as for ``requests_per_second``) that arrived within any ``window``
        seconds: e.g. ``peak_requests(1.0, statuses=[200])`` must stay <= 50 under Discord's global limit."""
        times = self._throughput_sample(method, path_pattern, statuses)
        best = lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    @staticmethod
    def _route_bucket_hash(method: str, path: str) -> str:
        """A stable per-route bucket hash, like Discord's ``X-RateLimit-Bucket`` (ids do not change it)."""
        template = re.sub(r"/\d+", "/{id}", path)
        return hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:32]

    @staticmethod
    def _message_bucket_channel(rec: RecordedRequest) -> int | None:
        m = re.fullmatch(r"/channels/(\d+)/messages", rec.path) if rec.method == "POST" else None
        return int(m.group(1)) if m else None

    def _bucket_headers(self, rec: RecordedRequest, bucket: _Bucket | None, limit: int) -> dict[str, str]:
        """``X-RateLimit-*`` for a bucket (None: an injected 429 without enforcement -> exhausted for
        ``retry_after``, handled by the caller)."""
        reset_after = 0.0 if bucket is None else max(0.0, bucket.reset_at - time.monotonic())
        used = limit if bucket is None else bucket.used
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": f"{_ceil_ms(time.time() + reset_after):.3f}",
            "X-RateLimit-Reset-After": f"{_ceil_ms(reset_after):.3f}",
            "X-RateLimit-Bucket": self._route_bucket_hash(rec.method, rec.path),
        }

    def _admit(self, rec: RecordedRequest) -> tuple[web.Response | None, _Bucket | None]:
        """Rate-limit enforcement: (a 429 to answer, None) or (None, the message bucket the request used)."""
        rl = self._rate_limits
        if rl is None:
            return None, None
        now = rec.time  # arrival: requests are admitted in arrival order (no await in between)
        if self._needs_auth(rec.path):  # bot-authenticated (checked already); callbacks/webhooks are exempt
            window = rl.global_window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= rl.global_per_second:
                return self._error_response(rec, 429, retry_after=window[0] + 1.0 - now, global_=True), None
            window.append(now)
        cid = self._message_bucket_channel(rec)
        if cid is None:
            return None, None
        bucket = rl.buckets.get(cid)
        if bucket is None or now >= bucket.reset_at:
            bucket = rl.buckets[cid] = _Bucket(now + rl.channel_period)
        if bucket.used >= rl.channel_limit:
            headers = self._bucket_headers(rec, bucket, rl.channel_limit)
            return self._error_response(rec, 429, retry_after=bucket.reset_at - now, headers=headers), None
        bucket.used += 1
        return None, bucket

    def _error_response(
        self,
        rec: RecordedRequest,
        status: int,
        code: int = 0,
        message: str = "",
        *,
        retry_after: float = 0.05,
        global_: bool = False,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """An emulator-made error (injected or rate limit). 429: Discord's body and headers (``Via``,
        ``Retry-After``, global or bucket ``X-RateLimit-*`` with ``headers`` as the bucket's); others:
        ``{"message", "code"}``."""
        out = {"Via": "1.1 google"}
        if status == 429:
            retry_after = _ceil_ms(max(retry_after, 0.001))
            body: JSON = {
                "message": message or "You are being rate limited.",
                "retry_after": retry_after,
                "global": global_,
            }
            if code:
                body["code"] = code
            out["Retry-After"] = str(max(1, math.ceil(retry_after)))
            if global_:
                out.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
            else:
                if headers is None:
                    limit = self._rate_limits.channel_limit if self._rate_limits is not None else 5
                    headers = self._bucket_headers(rec, None, limit)
                    headers["X-RateLimit-Reset"] = f"{_ceil_ms(time.time() + retry_after):.3f}"
                    headers["X-RateLimit-Reset-After"] = f"{retry_after:.3f}"
                out.update(headers)
                out["X-RateLimit-Scope"] = "user"
        else:
            body = {"message": message or _status_message(status, code), "code": code}
        rec.response = body
        rec.response_headers = out
        return self._json(status, body, out)

    def _inject(
        self,
        rec: RecordedRequest,
        status: int,
        code: int = 0,
        message: str = "",
        *,
        retry_after: float = 0.05,
        global_: bool = False,
    ) -> web.Response:
        self.injected_faults.append((rec.method, rec.path, status))
        return self._error_response(rec, status, code, message, retry_after=retry_after, global_=global_)

    # ------------------------------------------------------------------ REST plumbing
    def _build_routes(self) -> None:
        app, tok = r"(?P<app_id>\d+)", r"(?P<token>[^/]+)"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", r"/users/@me", self._r_me),
            ("GET", r"/users/(?P<user_id>\d+)", self._r_user),
            ("POST", r"/users/@me/channels", self._r_create_dm),
            ("GET", r"/(?:oauth2/)?applications/@me", self._r_app_info),
            ("GET", r"/gateway", self._r_gateway),
            ("GET", r"/gateway/bot", self._r_gateway),
            ("GET", rf"/applications/{app}/commands", self._r_get_commands),
            ("PUT", rf"/applications/{app}/commands", self._r_put_commands),
            ("GET", rf"/applications/{app}/guilds/(?P<guild_id>\d+)/commands", self._r_get_commands),
            ("PUT", rf"/applications/{app}/guilds/(?P<guild_id>\d+)/commands", self._r_put_commands),
            ("POST", rf"/interactions/(?P<iid>\d+)/{tok}/callback", self._r_callback),
            ("POST", rf"/webhooks/{app}/{tok}", self._r_followup),
            ("GET", rf"/webhooks/{app}/{tok}/messages/(?P<mid>@original|\d+)", self._r_webhook_message),
            ("PATCH", rf"/webhooks/{app}/{tok}/messages/(?P<mid>@original|\d+)", self._r_webhook_message),
            ("DELETE", rf"/webhooks/{app}/{tok}/messages/(?P<mid>@original|\d+)", self._r_webhook_message),
            ("GET", r"/channels/(?P<cid>\d+)", self._r_get_channel),
            ("GET", r"/channels/(?P<cid>\d+)/messages", self._r_list_messages),
            ("POST", r"/channels/(?P<cid>\d+)/messages", self._r_post_message),
            ("GET", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._r_channel_message),
            ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._r_channel_message),
            ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._r_channel_message),
            ("POST", r"/channels/(?P<cid>\d+)/typing", self._r_typing),
            ("GET", r"/guilds/(?P<guild_id>\d+)", self._r_get_guild),
            ("GET", r"/guilds/(?P<guild_id>\d+)/channels", self._r_guild_channels),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", self._r_guild_member),
        ]
        self._routes = [(m, re.compile(p), h) for m, p, h in table]

    @staticmethod
    def _needs_auth(path: str) -> bool:
        return not (path.startswith("/interactions/") or re.match(r"/webhooks/\d+/[^/]+", path) or path == "/gateway")

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/api/v10/"):
            return self._json(404, {"message": "404: Not Found", "code": 0})
        path = path[len("/api/v10") :]
        body: Any = None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            raw_json = form.get("payload_json")
            body = json.loads(str(raw_json)) if raw_json is not None else {}
            body["_files"] = [
                {"filename": v.filename, "size": len(v.file.read()), "content_type": v.content_type}
                for k, v in form.items()
                if k.startswith("files[") and isinstance(v, web.FileField)
            ]
        else:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
        rec = RecordedRequest(
            request.method, path, dict(request.query), body, dict(request.headers), time=time.monotonic()
        )
        self.requests.append(rec)
        response = await self._respond(rec)
        rec.status = response.status
        if response.status == 429:
            self.rate_limited_count += 1
        if response.status in (401, 403, 429):
            self.invalid_request_count += 1
        self._notify()
        return response

    async def _respond(self, rec: RecordedRequest) -> web.Response:
        """Auth, then injected faults (``fail_next``, then ``fail_randomly``), then rate-limit enforcement,
        then the route's handler (and ``fail_after_create_next`` on its 2xx answer)."""
        if self._needs_auth(rec.path) and rec.headers.get("Authorization") != f"Bot {self.BOT_TOKEN}":
            rec.response = {"message": "401: Unauthorized", "code": 0}
            return self._json(401, rec.response)
        fault = self._take_fault(self._faults, rec.method, rec.path)
        if fault is not None:
            return self._inject(
                rec, fault.status, fault.code, fault.message, retry_after=fault.retry_after, global_=fault.global_
            )
        random_fault = self._take_random_fault(rec.method, rec.path)
        if random_fault is not None:
            assert self._random_faults is not None
            return self._inject(rec, *random_fault, retry_after=self._random_faults.retry_after)
        limited, bucket = self._admit(rec)
        if limited is not None:
            return limited
        status, payload = await self._route(rec)
        rec.response = payload
        if 200 <= status < 300:
            fault = self._take_fault(self._after_create_faults, rec.method, rec.path)
            if fault is not None:
                return self._inject(rec, fault.status, fault.code, fault.message, retry_after=fault.retry_after)
        headers: dict[str, str] = {}
        if bucket is not None and self._rate_limits is not None:
            headers = self._bucket_headers(rec, bucket, self._rate_limits.channel_limit)
        rec.response_headers = headers
        return self._json(status, payload, headers)

    async def _route(self, rec: RecordedRequest) -> tuple[int, Any]:
        path_matched = False
        for method, pattern, handler in self._routes:
            m = pattern.fullmatch(rec.path)
            if m is None:
                continue
            path_matched = True
            if method != rec.method:
                continue
            try:
                return await handler(rec, m.groupdict())
            except _ApiError as exc:
                return exc.status, exc.body()
            except Exception as exc:  # an emulator bug: fail loudly, and not with a 5xx discord.py would retry
                _log.exception("emulator error handling %s %s", rec.method, rec.path)
                self.internal_errors.append(exc)
                return 400, {"message": f"emulator internal error: {exc!r}", "code": 0}
        if path_matched:
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        return 404, {"message": "404: Not Found", "code": 0}

    @staticmethod
    def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
        extra = dict(headers or {})
        if status == 204 or payload is None:
            return web.Response(status=204, headers=extra)
        return web.Response(
            status=status, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json", **extra}
        )

    # ------------------------------------------------------------------ serializers
    def _member_dict(self, guild: Guild, member: Member, *, permissions: int | None = None) -> JSON:
        data: JSON = {
            "user": self.users[member.user_id].to_dict(),
            "roles": [str(r) for r in member.roles],
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def _channel_dict(self, channel: Channel) -> JSON:
        last = str(channel.last_message_id) if channel.last_message_id else None
        if channel.recipient_id is not None:
            return {
                "id": str(channel.id),
                "type": 1,
                "last_message_id": last,
                "flags": 0,
                "recipients": [self.users[channel.recipient_id].to_dict()],
            }
        data: JSON = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": copy.deepcopy(channel.overwrites),
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": last,
            "flags": 0,
        }
        if channel.type in (2, 13):
            data.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None})
        if channel.type in (15, 16):
            data.update(
                {
                    "available_tags": [],
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "default_thread_rate_limit_per_user": 0,
                }
            )
        return data

    def _guild_dict(self, guild: Guild) -> JSON:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.to_dict() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "widget_enabled": False,
            "incidents_data": None,
        }

    def _guild_create_payload(self, guild: Guild, *, joined: bool = False) -> JSON:
        """Full GUILD_CREATE: like Discord (no presences intent) it carries only the bot's member.
        ``joined`` (the bot was just added): no ``unavailable`` key, so discord.py fires on_guild_join."""
        data = self._guild_dict(guild)
        if not joined:
            data["unavailable"] = False
        data.update(
            {
                "joined_at": guild.joined_at,
                "large": False,
                "lazy": True,
                "member_count": len(guild.members),
                "voice_states": [],
                "presences": [],
                "threads": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "members": [self._member_dict(guild, guild.members[self.bot_user_id])],
                "channels": [self._channel_dict(self.channels[c]) for c in guild.channel_ids],
            }
        )
        for ch in data["channels"]:
            ch.pop("guild_id", None)  # Discord omits it inside GUILD_CREATE
        return data

    def _public_message(self, msg: JSON) -> JSON:
        return {k: v for k, v in msg.items() if k != "allowed_mentions"}

    # ------------------------------------------------------------------ message creation / validation
    @staticmethod
    def _validate_message(body: Any, *, require_content: bool = True) -> None:
        if not isinstance(body, dict):
            raise _form_error([], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        content = body.get("content")
        if content is not None and len(str(content)) > 2000:
            raise _form_error(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            raise _form_error(["nonce"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        embeds = body.get("embeds") or []
        if not isinstance(embeds, list) or not all(isinstance(e, dict) for e in embeds):
            raise _form_error(["embeds"], "LIST_TYPE_CONVERT", "Only iterables of objects may be used here")
        if len(embeds) > 10:
            raise _form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        limits = {"title": 256, "description": 4096}
        for i, embed in enumerate(embeds):
            for key, limit in limits.items():
                text = str(embed.get(key) or "")
                total += len(text)
                if len(text) > limit:
                    raise _form_error(
                        ["embeds", i, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                    )
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise _form_error(["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for j, fld in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    text = str(fld.get(key) or "")
                    total += len(text)
                    if not text:
                        raise _form_error(
                            ["embeds", i, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required"
                        )
                    if len(text) > limit:
                        raise _form_error(
                            ["embeds", i, "fields", j, key],
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
            for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
                text = str((embed.get(key) or {}).get(sub) or "")
                total += len(text)
                if len(text) > limit:
                    raise _form_error(
                        ["embeds", i, key, sub], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                    )
        if total > 6000:
            raise _form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        if require_content and not (
            content
            or embeds
            or body.get("sticker_ids")
            or body.get("components")
            or body.get("poll")
            or body.get("_files")
        ):
            raise _ApiError(400, 50006)

    def _mentions(self, body: JSON, channel: Channel) -> tuple[list[JSON], list[str], bool]:
        content = str(body.get("content") or "")
        allowed = body.get("allowed_mentions")
        parse = ["users", "roles", "everyone"] if allowed is None else list(allowed.get("parse") or [])
        ok_users = {str(u) for u in (allowed or {}).get("users") or []}
        ok_roles = {str(r) for r in (allowed or {}).get("roles") or []}
        users = [
            self.users[int(u)].to_dict()
            for u in dict.fromkeys(re.findall(r"<@!?(\d+)>", content))
            if int(u) in self.users and ("users" in parse or u in ok_users)
        ]
        roles = [r for r in dict.fromkeys(re.findall(r"<@&(\d+)>", content)) if "roles" in parse or r in ok_roles]
        everyone = bool(re.search(r"@(everyone|here)", content)) and "everyone" in parse
        if channel.guild_id is None:
            everyone = False
        elif everyone:
            everyone = bool(self.permissions_for(channel.guild_id, channel.id, self.bot_user_id) & MENTION_EVERYONE)
        return users, roles, everyone

    def _new_message(self, channel: Channel, body: JSON, *, type: int = 0, flags: int = 0) -> JSON:
        users, roles, everyone = self._mentions(body, channel)
        mid = self._snowflake()
        msg: JSON = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "author": self.users[self.bot_user_id].to_dict(),
            "content": str(body.get("content") or ""),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": users,
            "mention_roles": roles,
            "attachments": [self._attachment(channel, f) for f in body.get("_files", [])],
            "embeds": copy.deepcopy(body.get("embeds") or []),
            "pinned": False,
            "type": type,
            "nonce": body.get("nonce"),
            "flags": flags,
            "components": copy.deepcopy(body.get("components") or []),
            "allowed_mentions": copy.deepcopy(body.get("allowed_mentions")),
        }
        channel.last_message_id = mid
        self._message_index[msg["id"]] = msg
        return msg

    def _attachment(self, channel: Channel, upload: JSON) -> JSON:
        aid = self._snowflake()
        url = f"https://cdn.discordapp.com/attachments/{channel.id}/{aid}/{upload['filename']}"
        return {
            "id": str(aid),
            "filename": upload["filename"],
            "size": upload["size"],
            "url": url,
            "proxy_url": url,
            "content_type": upload["content_type"],
        }

    def _apply_edit(self, msg: JSON, body: JSON, channel: Channel) -> None:
        self._validate_message(body, require_content=False)
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                msg[key] = copy.deepcopy(body[key]) if body[key] is not None else ("" if key == "content" else [])
        if "flags" in body and body["flags"] is not None:
            msg["flags"] = (int(msg["flags"]) & (EPHEMERAL | LOADING)) | (int(body["flags"]) & ~(EPHEMERAL | LOADING))
        msg["flags"] = int(msg["flags"]) & ~LOADING
        users, roles, everyone = self._mentions({**body, "content": msg["content"]}, channel)
        msg.update(
            {"mentions": users, "mention_roles": roles, "mention_everyone": everyone, "edited_timestamp": _now_iso()}
        )

    def _message_event(self, channel: Channel, msg: JSON) -> None:
        intent = INTENT_DIRECT_MESSAGES if channel.guild_id is None else INTENT_GUILD_MESSAGES

        def build() -> JSON:
            event = self._public_message(msg)
            if channel.guild_id is not None:
                guild = self.guilds[channel.guild_id]
                event["guild_id"] = str(channel.guild_id)
                author = guild.members.get(int(msg["author"]["id"]))
                if author is not None:
                    member = self._member_dict(guild, author)
                    member.pop("user")
                    event["member"] = member
            return event

        self._dispatch_if(intent, "MESSAGE_CREATE", build)

    # ------------------------------------------------------------------ REST handlers: users, app, gateway
    async def _r_me(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        me = self.users[self.bot_user_id].to_dict()
        me.update({"verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US", "email": None})
        return 200, me

    async def _r_user(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        user = self.users.get(int(m["user_id"]))
        if user is None:
            raise _ApiError(404, 10013)
        return 200, user.to_dict()

    async def _r_app_info(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        return 200, {
            "id": str(self.application_id),
            "name": "paperbot-emulator",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.users[self.owner_id].to_dict(),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "summary": "",
            "tags": [],
            "bot": self.users[self.bot_user_id].to_dict(),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self.guilds),
        }

    async def _r_gateway(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        data: JSON = {"url": self.gateway_url}
        if req.path.endswith("/bot"):
            data.update(
                {
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 1000,
                        "reset_after": 86400000,
                        "max_concurrency": 1,
                    },
                }
            )
        return 200, data

    async def _r_create_dm(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        try:
            uid = int((req.json or {})["recipient_id"])
        except (KeyError, TypeError, ValueError):
            raise _form_error(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required") from None
        if uid not in self.users or uid == self.bot_user_id:
            raise _form_error(["recipient_id"], "NUMBER_TYPE_COERCE", f'Value "{uid}" is not snowflake.')
        return 200, self._channel_dict(self._ensure_dm(uid))

    def _ensure_dm(self, user_id: int) -> Channel:
        cid = self._dm_by_user.get(user_id)
        if cid is None:
            cid = self._snowflake()
            self.channels[cid] = Channel(cid, 1, None, recipient_id=user_id)
            self._dm_by_user[user_id] = cid
        return self.channels[cid]

    # ------------------------------------------------------------------ REST handlers: commands
    def _check_app(self, m: dict[str, str]) -> None:
        if int(m["app_id"]) != self.application_id:
            raise _ApiError(403, 50001)

    async def _r_get_commands(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        self._check_app(m)
        if "guild_id" in m:
            return 200, copy.deepcopy(self.guild_commands.get(int(m["guild_id"]), []))
        return 200, copy.deepcopy(self.global_commands)

    async def _r_put_commands(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        self._check_app(m)
        guild_id = int(m["guild_id"]) if "guild_id" in m else None
        if guild_id is not None and guild_id not in self.guilds:
            raise _ApiError(403, 50001)
        body = req.json
        if not isinstance(body, list):
            raise _form_error([], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        if len(body) > 100:
            raise _form_error([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        old = self.guild_commands.get(guild_id, []) if guild_id is not None else self.global_commands
        old_ids = {(c["name"], c["type"]): c["id"] for c in old}
        version = str(self._snowflake())
        out: list[JSON] = []
        for i, cmd in enumerate(body):
            self._validate_command(cmd, [i])
            ctype = int(cmd.get("type") or 1)
            dmp = cmd.get("default_member_permissions")
            full: JSON = {
                "id": old_ids.get((cmd["name"], ctype)) or str(self._snowflake()),
                "application_id": str(self.application_id),
                "version": version,
                "type": ctype,
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description", "") if ctype == 1 else "",
                "description_localizations": cmd.get("description_localizations"),
                "options": copy.deepcopy(cmd.get("options") or []),
                "default_member_permissions": None if dmp is None else str(dmp),
                "nsfw": bool(cmd.get("nsfw", False)),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types") or [0],
            }
            if guild_id is None:
                full["dm_permission"] = cmd.get("dm_permission", True)
            else:
                full["guild_id"] = str(guild_id)
            out.append(full)
        names = [(c["name"], c["type"]) for c in out]
        if len(names) != len(set(names)):
            raise _form_error([], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        if guild_id is None:
            self.global_commands = out
        else:
            self.guild_commands[guild_id] = out
        return 200, copy.deepcopy(out)

    def _validate_command(self, cmd: JSON, path: list[str | int]) -> None:
        """Light validation of names, descriptions and option counts, like Discord's 50035s."""
        name = str(cmd.get("name") or "")
        is_chat = int(cmd.get("type") or 1) == 1  # options are validated as chat-input names too
        if not 1 <= len(name) <= 32:
            raise _form_error([*path, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if is_chat and (not re.fullmatch(r"[-_'\w]{1,32}", name) or name != name.lower()):
            raise _form_error([*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if is_chat and not 1 <= len(str(cmd.get("description") or "")) <= 100:
            raise _form_error([*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        options = cmd.get("options") or []
        if len(options) > 25:
            raise _form_error([*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, opt in enumerate(options):
            if len(opt.get("choices") or []) > 25:
                raise _form_error(
                    [*path, "options", j, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            self._validate_command({**opt, "type": 1}, [*path, "options", j])

    # ------------------------------------------------------------------ REST handlers: interactions
    def _pending_for_token(self, m: dict[str, str]) -> _Pending:
        pending = self._pending_by_token.get(m["token"])
        if pending is None or int(m["app_id"]) != self.application_id or not pending.responded.is_set():
            raise _ApiError(404, 10015)
        return pending

    async def _r_callback(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        pending = self._pending.get(int(m["iid"]))
        if pending is None or pending.result.token != m["token"]:
            raise _ApiError(404, 10062)
        if pending.responded.is_set():
            raise _ApiError(400, 40060)
        age = asyncio.get_running_loop().time() - pending.created
        if self.interaction_deadline is not None and age > self.interaction_deadline:
            pending.error = f"the bot answered the interaction after {age:.2f} s (Discord allows 3 s)"
            pending.responded.set()
            raise _ApiError(404, 10062)
        try:
            return self._accept_callback(pending, req)
        except _ApiError as exc:
            pending.rejected.append(f"{req.method} {req.path} -> {exc.status} {exc.body()}")
            raise

    def _accept_callback(self, pending: _Pending, req: RecordedRequest) -> tuple[int, Any]:
        body = req.json if isinstance(req.json, dict) else {}
        rtype = int(body.get("type") or 0)
        data: JSON = body.get("data") or {}
        itype = int(pending.payload["type"])
        allowed = {8} if itype == 4 else {4, 5, 9} if itype == 2 else {4, 5, 6, 7, 9}
        if rtype not in allowed:
            raise _form_error(
                ["type"], "INTERACTION_RESPONSE_TYPE_INVALID", f"Interaction response type {rtype} is not valid here"
            )
        result = pending.result
        channel = self.channels[pending.channel_id]
        clicked = pending.clicked
        if rtype in (6, 7) and clicked is None:
            raise _form_error(
                ["type"],
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Interaction response type {rtype} needs an interaction on a message",
            )
        message: JSON | None = None
        if rtype == 4:
            self._validate_message(data)
            flags = int(data.get("flags") or 0)
            message = self._interaction_message(pending, channel, data, flags=flags, original=True)
            result.data = copy.deepcopy(message if clicked is not None else data)
        elif rtype in (5, 6):
            result.deferred_flags = int(data.get("flags") or 0)
            if rtype == 5:
                message = self._interaction_message(
                    pending, channel, {}, flags=LOADING | (result.deferred_flags & EPHEMERAL), original=True
                )
            else:  # DEFERRED_UPDATE_MESSAGE: @original is now the clicked message
                message = result.original_message = clicked
        elif rtype == 7 and clicked is not None:  # UPDATE_MESSAGE: edit the clicked message in place
            self._apply_edit(clicked, data, self.channels[int(clicked["channel_id"])])
            message = result.original_message = clicked
            result.data = copy.deepcopy(clicked)
        elif rtype == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise _form_error(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for k, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name") or "")) <= 100:
                    raise _form_error(
                        ["data", "choices", k, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                    )
            pending.choices = copy.deepcopy(choices)
            result.data = copy.deepcopy(data)
        else:
            result.data = copy.deepcopy(data)
        result.response_type = rtype
        result.callback = copy.deepcopy(body)
        pending.responded.set()
        if rtype not in (5, 6):
            pending.completed.set()
        if req.query.get("with_response", "").lower() not in ("1", "true"):
            return 204, None
        out: JSON = {
            "interaction": {
                "id": str(result.interaction_id),
                "type": itype,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(int((message or data).get("flags") or 0) & EPHEMERAL),
            },
            "resource": {"type": rtype},
        }
        if message is not None:
            out["interaction"]["response_message_id"] = message["id"]
            if rtype != 6:
                out["resource"]["message"] = self._public_message(message)
        return 200, out

    def _complete_click(self, pending: _Pending, msg: JSON) -> None:
        """A click's result is the message it produced/updated, as stored now."""
        pending.result.data = copy.deepcopy(msg)
        pending.completed.set()

    def _interaction_message(
        self, pending: _Pending, channel: Channel, body: JSON, *, flags: int, original: bool
    ) -> JSON:
        is_command = pending.payload["type"] == 2
        msg = self._new_message(
            channel, {**body, "nonce": None}, type=20 if original and is_command else 0, flags=flags
        )
        user = pending.payload.get("member", {}).get("user") or pending.payload.get("user")
        metadata: JSON = {
            "id": str(pending.result.interaction_id),
            "type": pending.payload["type"],
            "user": user,
            "authorizing_integration_owners": pending.payload["authorizing_integration_owners"],
        }
        if pending.clicked is not None:
            metadata["interacted_message_id"] = pending.clicked["id"]
        else:
            metadata["name"] = pending.payload["data"]["name"]
        msg.update(
            {
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": metadata,
            }
        )
        if not original and pending.result.original_message is not None:
            msg["interaction_metadata"]["original_response_message_id"] = pending.result.original_message["id"]
        if original:
            pending.result.original_message = msg
        else:
            pending.result.followup_messages.append(msg)
        if not flags & EPHEMERAL:
            self._history.setdefault(channel.id, []).append(msg)
        return msg

    async def _r_followup(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        pending = self._pending_for_token(m)
        body = req.json if isinstance(req.json, dict) else {}
        try:
            self._validate_message(body)
        except _ApiError as exc:
            pending.rejected.append(f"{req.method} {req.path} -> {exc.status} {exc.body()}")
            raise
        result = pending.result
        channel = self.channels[pending.channel_id]
        if result.response_type == 5 and not pending.completed.is_set():
            # Discord: the first followup after a deferral replaces the "thinking" message.
            msg = result.original_message
            if msg is None:
                msg = self._interaction_message(
                    pending, channel, body, flags=result.deferred_flags & EPHEMERAL, original=True
                )
            else:
                self._apply_edit(msg, body, channel)
                msg["edited_timestamp"] = None
            if pending.clicked is not None:
                self._complete_click(pending, msg)
            else:
                result.data = copy.deepcopy(body)
                pending.completed.set()
        else:  # after a deferred update (type 6) followups are new messages; only an edit completes it
            flags = int(body.get("flags") or 0)
            msg = self._interaction_message(pending, channel, body, flags=flags, original=False)
            result.followups.append(copy.deepcopy(body))
        wait = req.query.get("wait", "").lower() in ("1", "true")
        return (200, self._public_message(msg)) if wait else (204, None)

    async def _r_webhook_message(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        pending = self._pending_for_token(m)
        result = pending.result
        if m["mid"] == "@original":
            msg = result.original_message
        else:
            msg = next((f for f in result.followup_messages if f["id"] == m["mid"]), None)
        if msg is None:
            raise _ApiError(404, 10008)
        channel = self.channels[pending.channel_id]
        if req.method == "GET":
            return 200, self._public_message(msg)
        if req.method == "DELETE":
            history = self._history.get(channel.id, [])
            if msg in history:
                history.remove(msg)
            self._message_index.pop(msg["id"], None)
            return 204, None
        body = req.json if isinstance(req.json, dict) else {}
        self._apply_edit(msg, body, channel)
        if m["mid"] == "@original":
            result.edits.append(copy.deepcopy(body))
            if result.response_type in (5, 6) and not pending.completed.is_set():
                if pending.clicked is not None:
                    self._complete_click(pending, msg)
                else:
                    result.data = copy.deepcopy(body)
                    pending.completed.set()
        return 200, self._public_message(msg)

    # ------------------------------------------------------------------ REST handlers: channels, messages
    def _rest_channel(self, cid: str, *, need_view: bool = True) -> Channel:
        channel = self.channels.get(int(cid))
        if channel is None:
            raise _ApiError(404, 10003)
        if (
            need_view
            and channel.guild_id is not None
            and not self.permissions_for(channel.guild_id, channel.id, self.bot_user_id) & VIEW_CHANNEL
        ):
            raise _ApiError(403, 50001)
        return channel

    async def _r_get_channel(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        return 200, self._channel_dict(self._rest_channel(m["cid"]))

    async def _r_typing(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        self._rest_channel(m["cid"])
        return 204, None

    async def _r_post_message(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        channel = self._rest_channel(m["cid"], need_view=False)
        if channel.id in self._channel_errors:
            status, code, message = self._channel_errors[channel.id]
            raise _ApiError(status, code, message)
        body: JSON = copy.deepcopy(req.json) if isinstance(req.json, dict) else {}
        if channel.guild_id is not None:
            perms = self.permissions_for(channel.guild_id, channel.id, self.bot_user_id)
            if not perms & VIEW_CHANNEL:
                raise _ApiError(403, 50001)
            if not perms & SEND_MESSAGES:
                raise _ApiError(403, 50013)
            if body.get("embeds") and not perms & EMBED_LINKS:
                if not body.get("content"):
                    raise _ApiError(403, 50013)
                body["embeds"] = []  # Discord silently drops embeds when the content carries the message
        elif channel.recipient_id is not None and self.users[channel.recipient_id].dms_closed:
            raise _ApiError(403, 50007)
        self._validate_message(body)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            horizon = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            for old in self._sent.get(channel.id, []):
                if (
                    old.get("nonce") is not None
                    and str(old["nonce"]) == str(nonce)
                    and old["author"]["id"] == str(self.bot_user_id)
                    and dt.datetime.fromisoformat(old["timestamp"]) >= horizon
                ):
                    return 200, self._public_message(old)
        msg = self._new_message(channel, body, flags=int(body.get("flags") or 0) & _SETTABLE_FLAGS)
        self._sent.setdefault(channel.id, []).append(msg)
        self._history.setdefault(channel.id, []).append(msg)
        self._message_event(channel, msg)
        return 200, self._public_message(msg)

    async def _r_list_messages(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        """GET history: newest first, ``limit`` 1..100 (default 50), one of ``before`` / ``after`` /
        ``around`` (message ids or any snowflake, e.g. one made from a time); ``after`` gives the oldest
        ``limit`` messages after the id, ``around`` up to ``limit // 2`` older ones plus the id and newer.
        Interaction responses shown in the channel are included. Without READ_MESSAGE_HISTORY in a guild
        channel Discord returns no messages (200 [])."""
        channel = self._rest_channel(m["cid"])
        query = dict(req.query)
        for key in ("limit", "before", "after", "around"):
            if key in query:
                try:
                    int(query[key])
                except ValueError:
                    message = "Value is not int." if key == "limit" else f'Value "{query[key]}" is not snowflake.'
                    raise _form_error([key], "NUMBER_TYPE_COERCE", message) from None
        limit = int(query.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise _form_error(["limit"], "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        if len({"before", "after", "around"} & set(query)) > 1:
            raise _form_error([], "BASE_TYPE_BAD_REQUEST", "Only one of around, before or after may be given")
        if (
            channel.guild_id is not None
            and not self.permissions_for(channel.guild_id, channel.id, self.bot_user_id) & READ_MESSAGE_HISTORY
        ):
            return 200, []
        msgs = sorted(self._history.get(channel.id, []), key=lambda x: int(x["id"]))
        if "before" in query:
            msgs = [x for x in msgs if int(x["id"]) < int(query["before"])][-limit:]
        elif "after" in query:
            msgs = [x for x in msgs if int(x["id"]) > int(query["after"])][:limit]
        elif "around" in query:
            pivot = int(query["around"])
            older = [x for x in msgs if int(x["id"]) < pivot][-(limit // 2) :] if limit > 1 else []
            msgs = older + [x for x in msgs if int(x["id"]) >= pivot][: limit - len(older)]
        else:
            msgs = msgs[-limit:]
        return 200, [self._public_message(x) for x in reversed(msgs)]

    async def _r_channel_message(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        channel = self._rest_channel(m["cid"])
        history = self._history.get(channel.id, [])
        msg = next((x for x in history if x["id"] == m["mid"]), None)
        if msg is None:
            raise _ApiError(404, 10008)
        if req.method == "GET":
            return 200, self._public_message(msg)
        if req.method == "DELETE":
            history.remove(msg)
            sent = self._sent.get(channel.id, [])
            if msg in sent:
                sent.remove(msg)
            self._message_index.pop(msg["id"], None)
            return 204, None
        if msg["author"]["id"] != str(self.bot_user_id):
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(msg, req.json if isinstance(req.json, dict) else {}, channel)
        for pending in self._pending.values():  # a deferred update (type 6) may be completed by a plain edit
            if pending.clicked is msg and pending.result.response_type == 6 and not pending.completed.is_set():
                self._complete_click(pending, msg)
        return 200, self._public_message(msg)

    # ------------------------------------------------------------------ REST handlers: guilds
    def _rest_guild(self, gid: str) -> Guild:
        guild = self.guilds.get(int(gid))
        if guild is None:
            raise _ApiError(404, 10004)
        return guild

    async def _r_get_guild(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        guild = self._rest_guild(m["guild_id"])
        data = self._guild_dict(guild)
        if req.query.get("with_counts", "").lower() in ("1", "true"):
            data.update({"approximate_member_count": len(guild.members), "approximate_presence_count": 0})
        return 200, data

    async def _r_guild_channels(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        guild = self._rest_guild(m["guild_id"])
        return 200, [self._channel_dict(self.channels[c]) for c in guild.channel_ids]

    async def _r_guild_member(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        guild = self._rest_guild(m["guild_id"])
        member = guild.members.get(int(m["user_id"]))
        if member is None:
            raise _ApiError(404, 10007)
        return 200, self._member_dict(guild, member)

    # ------------------------------------------------------------------ gateway
    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws, request)
        self._connections.add(conn)
        writer = asyncio.create_task(self._gateway_writer(conn))
        conn.send({"op": 10, "d": {"heartbeat_interval": self.HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                self.gateway_received.append(payload)
                await self._gateway_op(conn, payload)
                self._notify()
        finally:
            conn.live = False
            conn.closed.set()
            conn.queue.put_nowait(None)
            self._connections.discard(conn)
            if self._session is not None and self._session.conn is conn:
                self._session.conn = None
            self._set_ready()
            self._notify()
            await writer
        return ws

    async def _gateway_writer(self, conn: _Connection) -> None:
        while True:
            payload = await conn.queue.get()
            if payload is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(json.dumps(payload))
            except (ConnectionError, RuntimeError):
                return

    def _set_ready(self) -> None:
        s = self._session
        if s is not None and s.conn is not None and s.conn.live:
            self._ready.set()
        else:
            self._ready.clear()

    async def _gateway_op(self, conn: _Connection, payload: JSON) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if not isinstance(d, dict) or d.get("token") != self.BOT_TOKEN:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            self._identify(conn, d)
        elif op == 6:
            if not isinstance(d, dict) or d.get("token") != self.BOT_TOKEN:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            self._resume(conn, d)
        elif op == 8 and isinstance(d, dict):
            self._member_chunk(d)
        # op 3 (presence) and 4 (voice) are accepted and ignored

    def _identify(self, conn: _Connection, d: JSON) -> None:
        old = self._session
        if old is not None and old.conn is not None and old.conn is not conn:
            old.conn.live = False
        self.intents = int(d.get("intents", 0))
        session = _Session(secrets.token_hex(16), self.intents, conn=conn)
        self._session = session
        conn.live = True
        self.identify_count += 1
        ready: JSON = {
            "v": 10,
            "user": (self.users[self.bot_user_id].to_dict() | {"verified": True, "mfa_enabled": False, "flags": 0}),
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": ["emulator"],
            "auth_session_id_hash": "",
            "_trace": ["emulator"],
        }
        if "shard" in d:
            ready["shard"] = d["shard"]
        self._dispatch("READY", ready, buffer=False)  # never replayed
        for guild in self.guilds.values():
            self._dispatch("GUILD_CREATE", self._guild_create_payload(guild))
        self._set_ready()

    def _resume(self, conn: _Connection, d: JSON) -> None:
        s = self._session
        if s is None or not s.resumable or d.get("session_id") != s.session_id:
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        if s.conn is not None and s.conn is not conn:
            s.conn.live = False
        s.conn = conn
        try:
            seq = int(d.get("seq") or 0)
        except (TypeError, ValueError):
            seq = 0
        for event in s.events:
            if event["s"] > seq:
                conn.send(event)
        conn.live = True
        self.resume_count += 1
        self._dispatch("RESUMED", {}, buffer=False)
        self._set_ready()

    def _member_chunk(self, d: JSON) -> None:
        guild = self.guilds.get(int(d.get("guild_id") or 0))
        if guild is None:
            return
        wanted = {int(u) for u in (d.get("user_ids") or [])}
        members = [self._member_dict(guild, mem) for uid, mem in guild.members.items() if not wanted or uid in wanted]
        limit = int(d.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "presences": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        self._dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _dispatch(self, event: str, data: JSON, *, buffer: bool = True) -> JSON | None:
        """Send a DISPATCH with the next sequence number; kept for RESUME replay. No session: dropped."""
        s = self._session
        if s is None:
            return None
        s.seq += 1
        payload: JSON = {"op": 0, "t": event, "s": s.seq, "d": data}
        if buffer:
            s.events.append(payload)
        if s.conn is not None and s.conn.live:
            s.conn.send(payload)
        return payload

    def _dispatch_if(self, intent: int, event: str, build: Callable[[], JSON]) -> None:
        s = self._session
        if s is not None and s.resumable and s.intents & intent:
            self._dispatch(event, build())

    def _live_connection(self) -> _Connection | None:
        s = self._session
        return s.conn if s is not None and s.conn is not None and s.conn.live else None

    async def _await_close(self, conn: _Connection, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(conn.closed.wait(), timeout)
        except TimeoutError:
            await conn.ws.close(code=4000)

    async def drop_gateway(self) -> None:
        """Abort the TCP connection under the gateway socket (no close frame); the client RESUMEs."""
        conn = self._live_connection()
        if conn is None:
            return
        conn.live = False
        self._set_ready()
        transport = conn.request.transport
        if transport is not None:
            transport.abort()
        await self._await_close(conn)

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT; the client closes and RESUMEs. Returns once the old socket is closed."""
        conn = self._live_connection()
        if conn is None:
            return
        conn.send({"op": 7, "d": None, "s": None, "t": None})
        conn.live = False
        self._set_ready()
        await self._await_close(conn)

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9; not resumable -> the client must IDENTIFY again (a RESUME would be refused)."""
        conn = self._live_connection()
        if conn is None:
            return
        assert self._session is not None
        if not resumable:
            self._session.resumable = False
        conn.send({"op": 9, "d": resumable, "s": None, "t": None})
        conn.live = False
        self._set_ready()
        await self._await_close(conn)

    # ------------------------------------------------------------------ interactions
    async def invoke(
        self,
        *,
        user_id: int,
        name: str,
        subcommand: str | None = None,
        options: dict[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        timeout: float = 10,
    ) -> InteractionResult:
        """Dispatch a slash command (type 2) as ``user_id`` and wait for the bot's response (and, after a
        deferral, for the first followup/edit). ``subcommand`` may be ``"sub"`` or ``"group sub"``.
        Raises AssertionError for unsynced commands/bad options, PermissionError where Discord would not
        offer the command, TimeoutError when the bot does not answer."""
        pending = self._prepare(2, user_id, name, subcommand, options or {}, None, guild_id, channel_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self._deliver(pending, timeout)
        await self._wait_event(
            pending, pending.responded, deadline, f"bot did not respond to /{name} within {timeout} s"
        )
        if pending.error:
            raise AssertionError(pending.error)
        await self._wait_event(
            pending,
            pending.completed,
            deadline,
            f"/{name} was deferred but no followup/edit arrived within {timeout} s",
        )
        return pending.result

    async def autocomplete(
        self,
        *,
        user_id: int,
        name: str,
        subcommand: str | None,
        options: dict[str, Any],
        focused: str,
        guild_id: int | None = None,
        channel_id: int | None = None,
        timeout: float = 10,
    ) -> list[JSON]:
        """Dispatch an autocomplete (type 4) with ``focused`` marked and return the choices sent back."""
        pending = self._prepare(4, user_id, name, subcommand, options, focused, guild_id, channel_id)
        deadline = asyncio.get_running_loop().time() + timeout
        await self._deliver(pending, timeout)
        await self._wait_event(
            pending,
            pending.responded,
            deadline,
            f"bot did not answer autocomplete for /{name} {focused} within {timeout} s",
        )
        if pending.error:
            raise AssertionError(pending.error)
        return copy.deepcopy(pending.choices or [])

    async def click(
        self,
        *,
        user_id: int,
        message: JSON,
        custom_id: str,
        guild_id: int | None = None,
        timeout: float = 10,
        wait_for_edit: bool = True,
    ) -> InteractionResult:
        """Click the button ``custom_id`` on a message the bot created, as ``user_id``: dispatch a
        component interaction (type 3) and wait for the bot's answer.

        ``message`` is a message dict from ``messages()``, GET history, ``InteractionResult.message`` or
        ``followup_messages``; only its ``id`` counts -- the click happens on the message as stored now.
        The result's ``data`` is the message the click produced: the clicked message after an
        UPDATE_MESSAGE (type 7) or after a DEFERRED_UPDATE_MESSAGE (type 6) followed by an edit
        (``PATCH @original`` or PATCH /channels/{cid}/messages/{mid}); a new message for type 4, or type 5
        followed by a followup/edit. ``wait_for_edit=False`` returns right after a type 6 (buttons that only
        acknowledge). Raises AssertionError where Discord would not let the user click (unknown or
        deleted message, no such button, disabled button, someone else's ephemeral message, a channel the
        user cannot see) or the bot's answer was late, TimeoutError when the bot does not answer (e.g. no
        view listens for the custom_id any more: Discord shows "This interaction failed")."""
        pending = self._prepare_click(user_id, message, custom_id, guild_id)
        deadline = asyncio.get_running_loop().time() + timeout
        what = f"the click on {custom_id!r} (message {pending.payload['message']['id']})"
        await self._deliver(pending, timeout)
        await self._wait_event(
            pending, pending.responded, deadline, f"bot did not respond to {what} within {timeout} s"
        )
        if pending.error:
            raise AssertionError(pending.error)
        result = pending.result
        if result.response_type == 6 and not wait_for_edit:
            if not pending.completed.is_set() and pending.clicked is not None:
                result.data = copy.deepcopy(pending.clicked)
            return result
        hint = (
            (
                " (the bot answered DEFERRED_UPDATE_MESSAGE but did not edit the message; "
                "pass wait_for_edit=False for buttons that only acknowledge)"
            )
            if result.response_type == 6
            else ""
        )
        await self._wait_event(
            pending,
            pending.completed,
            deadline,
            f"{what} was deferred but no edit/followup arrived within {timeout} s{hint}",
        )
        return result

    @classmethod
    def walk_components(cls, components: Iterable[JSON]) -> Iterable[JSON]:
        """Every component, depth first: action rows' children and components v2 containers/sections
        (``components``, ``accessory``)."""
        for comp in components:
            if not isinstance(comp, dict):
                continue
            yield comp
            yield from cls.walk_components(comp.get("components") or [])
            accessory = comp.get("accessory")
            if isinstance(accessory, dict):
                yield from cls.walk_components([accessory])

    @classmethod
    def find_component(cls, message: JSON, custom_id: str) -> JSON | None:
        """A copy of the component with that ``custom_id`` in a message dict (any nesting), or None."""
        for comp in cls.walk_components(message.get("components") or []):
            if comp.get("custom_id") == custom_id:
                return copy.deepcopy(comp)
        return None

    def _prepare_click(self, user_id: int, message: JSON, custom_id: str, guild_id: int | None) -> _Pending:
        if user_id not in self.users:
            raise AssertionError(f"unknown user {user_id}")
        mid = str(message.get("id") or "") if isinstance(message, dict) else ""
        stored = self._message_index.get(mid)
        if stored is None:
            raise AssertionError(f"message {mid or message!r} is not a live message the bot created")
        channel = self.channels.get(int(stored["channel_id"]))
        if channel is None:
            raise AssertionError(f"message {mid}: channel {stored['channel_id']} no longer exists")
        flags = int(stored.get("flags") or 0)
        if flags & EPHEMERAL:
            viewer = ((stored.get("interaction_metadata") or {}).get("user") or {}).get("id")
            if viewer != str(user_id):
                raise AssertionError(f"message {mid} is ephemeral: only user {viewer} sees it, not {user_id}")
        if channel.guild_id is not None:
            if guild_id is not None and guild_id != channel.guild_id:
                raise AssertionError(f"message {mid} is in guild {channel.guild_id}, not {guild_id}")
            guild, channel, context, perms = self._interaction_place(user_id, channel.guild_id, channel.id)
            if not perms & VIEW_CHANNEL:
                raise AssertionError(f"user {user_id} cannot see channel {channel.id} (message {mid})")
        else:
            if guild_id is not None:
                raise AssertionError(f"message {mid} is in a DM channel, not in guild {guild_id}")
            if channel.recipient_id != user_id:
                raise AssertionError(f"message {mid} is in user {channel.recipient_id}'s DMs, not {user_id}'s")
            guild, channel, context, perms = self._interaction_place(user_id, None, None)
        button = self.find_component(stored, custom_id)
        if button is None:
            have = [c["custom_id"] for c in self.walk_components(stored.get("components") or []) if "custom_id" in c]
            raise AssertionError(f"message {mid} has no component {custom_id!r} (custom_ids: {have})")
        if button.get("type") != 2:
            raise AssertionError(f"component {custom_id!r} is of type {button.get('type')}, not a button")
        if button.get("disabled"):
            raise AssertionError(f"button {custom_id!r} on message {mid} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": 2}
        if "id" in button:
            data["id"] = button["id"]
        return self._interaction_payload(3, data, user_id, guild, channel, context, perms, message=stored)

    async def _wait_event(self, pending: _Pending, event: asyncio.Event, deadline: float, message: str) -> None:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(event.wait(), max(remaining, 0.001))
        except TimeoutError:
            if pending.rejected:
                message += f"; the emulator rejected: {pending.rejected}"
            raise TimeoutError(message) from None

    async def _deliver(self, pending: _Pending, timeout: float) -> None:
        await self.wait_for_ready(timeout)
        pending.created = asyncio.get_running_loop().time()
        self._pending[pending.result.interaction_id] = pending
        self._pending_by_token[pending.result.token] = pending
        self.interactions.append(pending.result)
        self._dispatch("INTERACTION_CREATE", pending.payload)

    def _find_command(self, name: str, guild_id: int | None) -> JSON | None:
        pools = ([self.guild_commands.get(guild_id, [])] if guild_id is not None else []) + [self.global_commands]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and cmd["type"] == 1:
                    return cmd
        return None

    def _prepare(
        self,
        itype: int,
        user_id: int,
        name: str,
        subcommand: str | None,
        options: dict[str, Any],
        focused: str | None,
        guild_id: int | None,
        channel_id: int | None,
    ) -> _Pending:
        if user_id not in self.users:
            raise AssertionError(f"unknown user {user_id}")
        command = self._find_command(name, guild_id)
        if command is None:
            where = f"guild {guild_id} or global" if guild_id is not None else "global"
            raise AssertionError(
                f"command not synced: /{name} ({where} commands: "
                f"{[c['name'] for c in self._visible_commands(guild_id)]})"
            )
        if guild_id is not None and channel_id is None:
            channel_id = next((c for c in self._guild(guild_id).channel_ids if self.channels[c].type in (0, 5)), None)
            if channel_id is None:
                raise AssertionError(f"guild {guild_id} has no text channel to invoke /{name} in")
        if guild_id is None and channel_id is not None and channel_id != self._dm_by_user.get(user_id):
            raise AssertionError("a DM invoke happens in the user's DM channel; omit channel_id")
        guild, channel, context, member_perms = self._interaction_place(user_id, guild_id, channel_id)
        if guild is not None:
            dmp = command.get("default_member_permissions")
            if dmp is not None and not self._is_admin(guild, user_id):
                required = int(dmp)
                if required == 0 or member_perms & required != required:
                    raise PermissionError(
                        f"/{name} requires permissions {required}; user {user_id} has "
                        f"{member_perms} in channel {channel.id}"
                    )
        elif command.get("dm_permission") is False:
            raise PermissionError(f"/{name} is not available in DMs (dm_permission false)")
        contexts = command.get("contexts")
        if contexts is not None and context not in contexts:
            raise PermissionError(f"/{name} is not available in context {context} (contexts {contexts})")

        defs, wrap = self._option_path(command, subcommand)
        resolved: JSON = {}
        leaf = self._build_options(defs, options, focused, resolved, guild, user_id, require=itype == 2)
        data: JSON = {"id": command["id"], "name": name, "type": 1, "options": wrap(leaf)}
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        return self._interaction_payload(itype, data, user_id, guild, channel, context, member_perms)

    def _interaction_place(
        self, user_id: int, guild_id: int | None, channel_id: int | None
    ) -> tuple[Guild | None, Channel, int, int]:
        """Where an interaction by ``user_id`` happens: (guild, channel, context, the user's permissions
        there). A guild channel needs ``channel_id``; no guild means the user's DM with the bot."""
        if user_id not in self.users:
            raise AssertionError(f"unknown user {user_id}")
        if guild_id is None:
            return None, self._ensure_dm(user_id), 1, DM_PERMISSIONS
        guild = self._guild(guild_id)
        if user_id not in guild.members:
            raise AssertionError(f"user {user_id} is not a member of guild {guild.id}")
        if channel_id is None:
            raise AssertionError("a guild interaction needs a channel")
        channel = self._channel(channel_id)
        if channel.guild_id != guild.id:
            raise AssertionError(f"channel {channel_id} is not in guild {guild.id}")
        return guild, channel, 0, self.permissions_for(guild.id, channel.id, user_id)

    def _interaction_payload(
        self,
        itype: int,
        data: JSON,
        user_id: int,
        guild: Guild | None,
        channel: Channel,
        context: int,
        member_perms: int,
        *,
        message: JSON | None = None,
    ) -> _Pending:
        """The INTERACTION_CREATE payload Discord sends (``message``: the clicked message, for type 3)."""
        iid = self._snowflake()
        token = f"emu.{secrets.token_urlsafe(24)}"
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "token": token,
            "version": 1,
            "data": data,
            "channel_id": str(channel.id),
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "context": context,
            "attachment_size_limit": self.ATTACHMENT_SIZE_LIMIT,
        }
        if message is not None:
            payload["message"] = copy.deepcopy(self._public_message(message))
        if guild is not None:
            channel_data = self._channel_dict(channel) | {"permissions": str(member_perms)}
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "channel": channel_data,
                    "member": self._member_dict(guild, guild.members[user_id], permissions=member_perms),
                    "app_permissions": str(self.permissions_for(guild.id, channel.id, self.bot_user_id)),
                    "authorizing_integration_owners": {"0": str(guild.id)},
                }
            )
        else:
            payload.update(
                {
                    "user": self.users[user_id].to_dict(),
                    "channel": self._channel_dict(channel),
                    "app_permissions": str(DM_PERMISSIONS),
                    "authorizing_integration_owners": {"0": "0"},
                }
            )
        return _Pending(payload, InteractionResult(iid, token), created=0.0, clicked=message)

    def _visible_commands(self, guild_id: int | None) -> list[JSON]:
        return (self.guild_commands.get(guild_id, []) if guild_id is not None else []) + self.global_commands

    @staticmethod
    def _option_path(command: JSON, subcommand: str | None) -> tuple[list[JSON], Callable[[list[JSON]], list[JSON]]]:
        top: list[JSON] = command.get("options") or []
        if not subcommand:
            if any(o["type"] in (1, 2) for o in top):
                raise AssertionError(
                    f"/{command['name']} has subcommands "
                    f"{[o['name'] for o in top if o['type'] in (1, 2)]}; pass subcommand="
                )
            return top, lambda leaf: leaf
        parts = subcommand.split()

        def find(opts: list[JSON], kind: int, nm: str) -> JSON:
            for o in opts:
                if o["type"] == kind and o["name"] == nm:
                    return o
            raise AssertionError(
                f"command not synced: /{command['name']} has no {'subcommand' if kind == 1 else 'group'} {nm!r}"
            )

        if len(parts) == 1:
            sub = find(top, 1, parts[0])
            return sub.get("options") or [], lambda leaf: [{"type": 1, "name": sub["name"], "options": leaf}]
        if len(parts) == 2:
            group = find(top, 2, parts[0])
            sub = find(group.get("options") or [], 1, parts[1])
            return sub.get("options") or [], lambda leaf: [
                {"type": 2, "name": group["name"], "options": [{"type": 1, "name": sub["name"], "options": leaf}]}
            ]
        raise AssertionError(f"bad subcommand {subcommand!r}")

    def _build_options(
        self,
        defs: list[JSON],
        given: dict[str, Any],
        focused: str | None,
        resolved: JSON,
        guild: Guild | None,
        user_id: int,
        *,
        require: bool,
    ) -> list[JSON]:
        known = {d["name"] for d in defs}
        unknown = set(given) - known - ({focused} if focused else set())
        if unknown:
            raise AssertionError(f"unknown option(s) {sorted(unknown)}; synced options: {sorted(known)}")
        if focused is not None:
            fdef = next((d for d in defs if d["name"] == focused), None)
            if fdef is None or not fdef.get("autocomplete"):
                raise AssertionError(f"option {focused!r} is not an autocomplete option")
        out: list[JSON] = []
        for d in defs:
            nm, otype = d["name"], int(d["type"])
            if nm == focused:
                out.append({"type": otype, "name": nm, "value": str(given.get(nm, "")), "focused": True})
                continue
            if nm not in given:
                if require and d.get("required"):
                    raise AssertionError(f"required option {nm!r} missing")
                continue
            out.append({"type": otype, "name": nm, "value": self._option_value(d, given[nm], resolved, guild, user_id)})
        return out

    def _option_value(self, d: JSON, value: Any, resolved: JSON, guild: Guild | None, user_id: int) -> Any:
        nm, otype = d["name"], int(d["type"])
        if otype == 3:
            value = str(value)
            if not d.get("min_length", 0) <= len(value) <= d.get("max_length", 6000):
                raise AssertionError(f"option {nm!r}: length outside min/max_length")
        elif otype in (4, 10):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AssertionError(f"option {nm!r} needs a number, got {value!r}")
            if otype == 4 and int(value) != value:
                raise AssertionError(f"option {nm!r} needs an integer, got {value!r}")
            value = int(value) if otype == 4 else value
            if ("min_value" in d and value < d["min_value"]) or ("max_value" in d and value > d["max_value"]):
                raise AssertionError(f"option {nm!r}: {value} outside min/max_value")
        elif otype == 5:
            if not isinstance(value, bool):
                raise AssertionError(f"option {nm!r} needs a bool")
        elif otype in (6, 7, 8, 9):
            try:
                sid = int(value)
            except (TypeError, ValueError):
                raise AssertionError(f"option {nm!r} needs an id, got {value!r}") from None
            if otype in (6, 9) and sid in self.users:
                resolved.setdefault("users", {})[str(sid)] = self.users[sid].to_dict()
                if guild is not None and sid in guild.members:
                    mem = self._member_dict(guild, guild.members[sid])
                    mem.pop("user")
                    resolved.setdefault("members", {})[str(sid)] = mem
            elif otype in (8, 9) and guild is not None and sid in guild.roles:
                resolved.setdefault("roles", {})[str(sid)] = guild.roles[sid].to_dict()
            elif otype == 7:
                self._channel_option(d, sid, resolved, guild, user_id)
            else:
                raise AssertionError(f"option {nm!r}: unknown {'user' if otype == 6 else 'role'} {sid}")
            value = str(sid)
        else:
            raise AssertionError(f"option {nm!r} (type {otype}): unsupported or unknown value {value!r}")
        choices = d.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise AssertionError(f"option {nm!r}: {value!r} is not one of the choices")
        return value

    def _channel_option(self, d: JSON, cid: int, resolved: JSON, guild: Guild | None, user_id: int) -> None:
        if guild is None:
            raise AssertionError("channel options are only supported in guild invokes")
        channel = self.channels.get(cid)
        if channel is None or channel.guild_id != guild.id:
            raise AssertionError(f"option {d['name']!r}: channel {cid} is not in guild {guild.id}")
        types = d.get("channel_types")
        if types and channel.type not in types:
            raise AssertionError(f"option {d['name']!r}: channel type {channel.type} not in {types}")
        perms = self.permissions_for(guild.id, cid, user_id)
        if not perms & VIEW_CHANNEL:
            raise AssertionError(f"user {user_id} cannot see channel {cid}, so Discord would not offer it")
        entry = self._channel_dict(channel) | {"permissions": str(perms)}
        entry.pop("permission_overwrites", None)
        resolved.setdefault("channels", {})[str(cid)] = entry

    async def wait_for_followups(self, result: InteractionResult, count: int, timeout: float = 10) -> list[JSON]:
        """Wait until ``result.followups`` has at least ``count`` entries; return them."""
        await self.wait_until(lambda: len(result.followups) >= count, timeout)
        return list(result.followups)
