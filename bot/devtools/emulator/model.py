"""The emulator's world model: users, roles, channels, members, guilds, and what tests read back (recorded
requests, interaction results)."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

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
SETTABLE_FLAGS = (1 << 2) | (1 << 12) | IS_COMPONENTS_V2


def now_iso() -> str:
    """The current UTC time as Discord writes timestamps."""
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class User:
    """A Discord user known to the emulator."""

    id: int
    name: str
    bot: bool = False
    dms_closed: bool = False

    def to_dict(self) -> JSON:
        """The user object Discord sends."""
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
    mentionable: bool = False

    def to_dict(self) -> JSON:
        """The role object Discord sends."""
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
            "mentionable": self.mentionable,
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
    available_tags: list[JSON] = field(default_factory=list)  # a forum's tags: {id, name, moderated, emoji_*}
    flags: int = 0  # e.g. a forum's REQUIRE_TAG (1 << 4)
    # A thread (a forum post): who started it, its tags, and when.
    owner_id: int | None = None
    applied_tags: list[str] = field(default_factory=list)
    created_at: str | None = None
    archived: bool = False


@dataclass
class Member:
    """A user's membership in a guild."""

    user_id: int
    roles: list[int]
    joined_at: str = field(default_factory=now_iso)
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
    joined_at: str = field(default_factory=now_iso)

    @property
    def everyone_permissions(self) -> int:
        """The @everyone role's permissions."""
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
    payload of the ``PATCH @original`` that replaced the "thinking" placeholder. For ``click``: ``data`` is the
    resulting message object -- the clicked message as updated (type 7, or 6 + edit) or the new message
    (type 4, or 5 + edit). ``followups`` holds every followup payload (each a message of its own, never the
    placeholder); ``edits`` every ``PATCH @original`` payload. ``message`` is a snapshot of the stored
    original-response message (for a type 6/7 click: the clicked message), e.g. to ``click`` on.
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
        """``data``'s content ("" if none)."""
        return str(self.data.get("content") or "")

    @property
    def embeds(self) -> list[JSON]:
        """``data``'s embeds."""
        return list(self.data.get("embeds") or [])

    @property
    def components(self) -> list[JSON]:
        """``data``'s components."""
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
        """Whether only the invoking user sees the response."""
        if self.original_message is not None:
            return bool(int(self.original_message.get("flags") or 0) & EPHEMERAL)
        if self.response_type in (5, 6):
            return bool(self.deferred_flags & EPHEMERAL)
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)
