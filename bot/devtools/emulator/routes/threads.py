"""Forum channels and their posts: building forums with tags, ``POST /channels/{forum}/threads`` (a post with its
first message, tags checked against the forum's, Discord's permission checks) and
``GET /guilds/{guild}/threads/active``."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from bot.devtools.emulator.model import INTENT_GUILDS, JSON, SETTABLE_FLAGS, Channel, RecordedRequest, now_iso
from bot.devtools.emulator.payloads import public_message
from bot.devtools.emulator.permissions import EMBED_LINKS, SEND_MESSAGES, VIEW_CHANNEL
from bot.devtools.emulator.protocol import ApiError, form_error
from bot.devtools.emulator.routes.channels import ChannelRoutes
from bot.devtools.emulator.routes.guilds import GuildRoutes
from bot.devtools.emulator.validation import validate_message

FORUM = 15
MEDIA = 16
PUBLIC_THREAD = 11
THREAD_TYPES = (10, 11, 12)
MAX_APPLIED_TAGS = 5
REQUIRE_TAG = 1 << 4
POST_NAME_LIMIT = 100


class ThreadRoutes(ChannelRoutes, GuildRoutes):
    """Forums (type 15, ``available_tags``), their posts (public threads whose first message shares the post's id)
    and the guild's active threads."""

    def add_forum(
        self,
        guild_id: int,
        name: str,
        *,
        tags: Sequence[str] = (),
        overwrites: list[JSON] | None = None,
        require_tag: bool = False,
    ) -> int:
        """Create a forum channel with these tag names (``require_tag``: every post needs one); return its id."""
        cid = self.add_channel(guild_id, name, type=FORUM, overwrites=overwrites)
        self.channels[cid].flags = REQUIRE_TAG if require_tag else 0
        self.channels[cid].available_tags = [
            {"id": str(self._snowflake()), "name": tag, "moderated": False, "emoji_id": None, "emoji_name": None}
            for tag in tags
        ]
        self.update_channel(cid)  # CHANNEL_UPDATE: the bot's cache learns the tags
        return cid

    def remove_forum_tag(self, forum_id: int, name: str) -> None:
        """Delete a tag from a forum, as a moderator would (dispatches CHANNEL_UPDATE)."""
        forum = self._channel(forum_id)
        forum.available_tags = [t for t in forum.available_tags if t["name"] != name]
        self.update_channel(forum_id)

    def forum_tag_id(self, forum_id: int, name: str) -> str:
        """The id of a forum's tag, by name."""
        for tag in self._channel(forum_id).available_tags:
            if tag["name"] == name:
                return str(tag["id"])
        raise AssertionError(f"forum {forum_id} has no tag {name!r}")

    def posts(self, forum_id: int) -> list[JSON]:
        """The forum's posts, oldest first: each thread as Discord returns it, with its first ``message``."""
        threads = sorted(
            (c for c in self.channels.values() if c.parent_id == forum_id and c.type in THREAD_TYPES),
            key=lambda c: c.id,
        )
        return [
            self._channel_dict(t) | {"message": copy.deepcopy(public_message(self._history[t.id][0]))}
            for t in threads
            if self._history.get(t.id)
        ]

    def archive_post(self, thread_id: int) -> None:
        """Archive a post: it leaves the guild's active threads."""
        self._channel(thread_id).archived = True
        self._notify()

    async def _r_create_thread(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        forum = self._rest_channel(m["cid"])
        if forum.type not in (FORUM, MEDIA) or forum.guild_id is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if forum.id in self._channel_errors:
            status, code, text = self._channel_errors[forum.id]
            raise ApiError(status, code, text)
        perms = self.permissions_for(forum.guild_id, forum.id, self.bot_user_id)
        if not perms & SEND_MESSAGES:  # "Create Posts" is Send Messages on a forum
            raise ApiError(403, 50013)
        body: JSON = copy.deepcopy(req.json) if isinstance(req.json, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise form_error(["name"], "BASE_TYPE_REQUIRED", "This field is required")
        if len(name) > POST_NAME_LIMIT:
            raise form_error(["name"], "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {POST_NAME_LIMIT} in length.")
        message = body.get("message")
        if not isinstance(message, dict):
            raise form_error(["message"], "BASE_TYPE_REQUIRED", "This field is required")
        validate_message(message)
        if message.get("embeds") and not perms & EMBED_LINKS:
            if not message.get("content"):
                raise ApiError(403, 50013)
            message["embeds"] = []
        tags = [str(t) for t in body.get("applied_tags") or []]
        if len(tags) > MAX_APPLIED_TAGS:
            raise form_error(
                ["applied_tags"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_APPLIED_TAGS} or fewer in length."
            )
        if forum.flags & REQUIRE_TAG and not tags:
            raise ApiError(400, 40067)
        known = {str(t["id"]) for t in forum.available_tags}
        for i, tag in enumerate(tags):
            if tag not in known:
                raise form_error(["applied_tags", i], "BASE_TYPE_CHOICES", f"Value {tag} is not a tag of this forum.")
        thread = Channel(
            self._snowflake(),
            PUBLIC_THREAD,
            name,
            guild_id=forum.guild_id,
            parent_id=forum.id,
            owner_id=self.bot_user_id,
            applied_tags=tags,
            created_at=now_iso(),
        )
        self.channels[thread.id] = thread
        first = self._new_message(thread, message, flags=int(message.get("flags") or 0) & SETTABLE_FLAGS)
        self._message_index.pop(first["id"])
        first["id"] = str(thread.id)  # a post's first message has the post's id
        self._message_index[first["id"]] = first
        thread.last_message_id = forum.last_message_id = thread.id
        self._sent[thread.id] = [first]
        self._history[thread.id] = [first]
        self._dispatch_if(INTENT_GUILDS, "THREAD_CREATE", lambda: self._channel_dict(thread) | {"newly_created": True})
        self._message_event(thread, first)
        return 201, self._channel_dict(thread) | {"message": public_message(first)}

    async def _r_active_threads(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        guild = self._rest_guild(m["guild_id"])
        threads = sorted(
            (
                c
                for c in self.channels.values()
                if c.guild_id == guild.id
                and c.type in THREAD_TYPES
                and not c.archived
                and self.permissions_for(guild.id, c.id, self.bot_user_id) & VIEW_CHANNEL
            ),
            key=lambda c: -c.id,
        )
        members = [
            {"id": str(t.id), "user_id": str(self.bot_user_id), "join_timestamp": t.created_at, "flags": 1}
            for t in threads
            if t.owner_id == self.bot_user_id
        ]
        return 200, {"threads": [self._channel_dict(t) for t in threads], "members": members, "has_more": False}
