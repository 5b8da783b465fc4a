"""Messages: creating them as Discord does (mentions, attachments, flags), editing them, the MESSAGE_CREATE
event, and reading back what the bot posted."""

from __future__ import annotations

import copy
import re

from bot.devtools.emulator.model import (
    EPHEMERAL,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    JSON,
    LOADING,
    Channel,
    now_iso,
)
from bot.devtools.emulator.payloads import public_message
from bot.devtools.emulator.permissions import MENTION_EVERYONE
from bot.devtools.emulator.validation import validate_message
from bot.devtools.emulator.world import WorldModel


class Messages(WorldModel):
    """The message stores: what the bot posted per channel, each channel's history, and every live message
    the bot created (incl. ephemeral ones) by id, for clicks."""

    def __init__(self) -> None:
        super().__init__()
        self._sent: dict[int, list[JSON]] = {}  # POST /channels/{id}/messages results, per channel
        self._history: dict[int, list[JSON]] = {}  # everything visible in the channel
        self._message_index: dict[str, JSON] = {}  # every live message the bot created (incl. ephemeral), by id

    def _thread_messages(self, thread_id: int) -> list[JSON]:
        return self._history.get(thread_id, [])

    def messages(self, channel_id: int, *, include_interaction_messages: bool = False) -> list[JSON]:
        """Messages the bot created in a channel with POST /channels/{id}/messages, oldest first (each
        with ``allowed_mentions`` as received). ``include_interaction_messages`` adds the non-ephemeral
        interaction responses/followups shown there (what GET /channels/{id}/messages returns)."""
        source = self._history if include_interaction_messages else self._sent
        return [copy.deepcopy(m) for m in source.get(channel_id, [])]

    async def wait_for_messages(self, channel_id: int, count: int, timeout: float = 10) -> list[JSON]:
        """Wait until at least ``count`` messages were posted to the channel; return them all."""
        try:
            await self.wait_until(lambda: len(self._sent.get(channel_id, [])) >= count, timeout)
        except TimeoutError:
            have = len(self._sent.get(channel_id, []))
            raise TimeoutError(f"{have} of {count} messages in channel {channel_id} after {timeout} s") from None
        return self.messages(channel_id)

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
        return copy.deepcopy(public_message(msg))

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
            return users, [], False
        may_ping_all = bool(self.permissions_for(channel.guild_id, channel.id, self.bot_user_id) & MENTION_EVERYONE)
        # Discord pings a role only if it is mentionable or the author has Mention Everyone in the channel.
        guild_roles = self.guilds[channel.guild_id].roles
        roles = [r for r in roles if may_ping_all or ((role := guild_roles.get(int(r))) and role.mentionable)]
        return users, roles, everyone and may_ping_all

    def _new_message(self, channel: Channel, body: JSON, *, type: int = 0, flags: int = 0) -> JSON:
        users, roles, everyone = self._mentions(body, channel)
        mid = self._snowflake()
        msg: JSON = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "author": self.users[self.bot_user_id].to_dict(),
            "content": str(body.get("content") or ""),
            "timestamp": now_iso(),
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
        validate_message(body, require_content=False)
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                msg[key] = copy.deepcopy(body[key]) if body[key] is not None else ("" if key == "content" else [])
        if "flags" in body and body["flags"] is not None:
            msg["flags"] = (int(msg["flags"]) & (EPHEMERAL | LOADING)) | (int(body["flags"]) & ~(EPHEMERAL | LOADING))
        msg["flags"] = int(msg["flags"]) & ~LOADING
        users, roles, everyone = self._mentions({**body, "content": msg["content"]}, channel)
        msg.update(
            {"mentions": users, "mention_roles": roles, "mention_everyone": everyone, "edited_timestamp": now_iso()}
        )

    def _message_event(self, channel: Channel, msg: JSON) -> None:
        intent = INTENT_DIRECT_MESSAGES if channel.guild_id is None else INTENT_GUILD_MESSAGES

        def build() -> JSON:
            event = public_message(msg)
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
