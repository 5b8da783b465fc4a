"""REST handlers: channels and their messages (post, history, get/edit/delete, typing), with Discord's
permission checks, limits and nonce idempotency."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from bot.devtools.emulator.faults import FaultInjection
from bot.devtools.emulator.model import JSON, SETTABLE_FLAGS, Channel, RecordedRequest
from bot.devtools.emulator.payloads import public_message
from bot.devtools.emulator.permissions import EMBED_LINKS, READ_MESSAGE_HISTORY, SEND_MESSAGES, VIEW_CHANNEL
from bot.devtools.emulator.protocol import ApiError, form_error
from bot.devtools.emulator.routes.interactions import InteractionRoutes
from bot.devtools.emulator.validation import validate_message


class ChannelRoutes(InteractionRoutes, FaultInjection):
    """``/channels/{id}[/messages[/{id}]|/typing]``."""

    def _rest_channel(self, cid: str, *, need_view: bool = True) -> Channel:
        channel = self.channels.get(int(cid))
        if channel is None:
            raise ApiError(404, 10003)
        if (
            need_view
            and channel.guild_id is not None
            and not self.permissions_for(channel.guild_id, channel.id, self.bot_user_id) & VIEW_CHANNEL
        ):
            raise ApiError(403, 50001)
        return channel

    async def _r_get_channel(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        return 200, self._channel_dict(self._rest_channel(m["cid"]))

    async def _r_typing(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        self._rest_channel(m["cid"])
        return 204, None

    async def _r_post_message(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        channel = self._rest_channel(m["cid"], need_view=False)
        if channel.type in (15, 16):  # forums take posts (POST /channels/{id}/threads), not messages
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        if channel.id in self._channel_errors:
            status, code, message = self._channel_errors[channel.id]
            raise ApiError(status, code, message)
        body: JSON = copy.deepcopy(req.json) if isinstance(req.json, dict) else {}
        if channel.guild_id is not None:
            perms = self.permissions_for(channel.guild_id, channel.id, self.bot_user_id)
            if not perms & VIEW_CHANNEL:
                raise ApiError(403, 50001)
            if not perms & SEND_MESSAGES:
                raise ApiError(403, 50013)
            if body.get("embeds") and not perms & EMBED_LINKS:
                if not body.get("content"):
                    raise ApiError(403, 50013)
                body["embeds"] = []  # Discord silently drops embeds when the content carries the message
        elif channel.recipient_id is not None and self.users[channel.recipient_id].dms_closed:
            raise ApiError(403, 50007)
        validate_message(body)
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
                    return 200, public_message(old)
        msg = self._new_message(channel, body, flags=int(body.get("flags") or 0) & SETTABLE_FLAGS)
        self._sent.setdefault(channel.id, []).append(msg)
        self._history.setdefault(channel.id, []).append(msg)
        self._message_event(channel, msg)
        return 200, public_message(msg)

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
                    raise form_error([key], "NUMBER_TYPE_COERCE", message) from None
        limit = int(query.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise form_error(["limit"], "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        if len({"before", "after", "around"} & set(query)) > 1:
            raise form_error([], "BASE_TYPE_BAD_REQUEST", "Only one of around, before or after may be given")
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
        return 200, [public_message(x) for x in reversed(msgs)]

    async def _r_channel_message(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        channel = self._rest_channel(m["cid"])
        history = self._history.get(channel.id, [])
        msg = next((x for x in history if x["id"] == m["mid"]), None)
        if msg is None:
            raise ApiError(404, 10008)
        if req.method == "GET":
            return 200, public_message(msg)
        if req.method == "DELETE":
            history.remove(msg)
            sent = self._sent.get(channel.id, [])
            if msg in sent:
                sent.remove(msg)
            self._message_index.pop(msg["id"], None)
            return 204, None
        if msg["author"]["id"] != str(self.bot_user_id):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(msg, req.json if isinstance(req.json, dict) else {}, channel)
        for pending in self._pending.values():  # a deferred update (type 6) may be completed by a plain edit
            if pending.clicked is msg and pending.result.response_type == 6 and not pending.completed.is_set():
                self._complete_click(pending, msg)
        return 200, public_message(msg)
