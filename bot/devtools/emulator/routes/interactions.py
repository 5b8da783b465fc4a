"""REST handlers: interaction callbacks, followups and ``@original``/followup message edits, with the
3 s deadline and Discord's rules on which response types fit which interaction."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from bot.devtools.emulator.messages import Messages
from bot.devtools.emulator.model import EPHEMERAL, JSON, LOADING, Channel, InteractionResult, RecordedRequest
from bot.devtools.emulator.payloads import public_message
from bot.devtools.emulator.protocol import ApiError, form_error
from bot.devtools.emulator.validation import validate_message


@dataclass
class Pending:
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
        """Where the interaction happened."""
        return int(self.payload["channel_id"])


class InteractionRoutes(Messages):
    """The dispatched interactions and the bot's answers to them."""

    def __init__(self) -> None:
        super().__init__()
        #: Seconds the bot has to answer an interaction callback (Discord: 3). None disables the check.
        self.interaction_deadline: float | None = 3.0
        self.interactions: list[InteractionResult] = []
        self._pending: dict[int, Pending] = {}
        self._pending_by_token: dict[str, Pending] = {}

    def _pending_for_token(self, m: dict[str, str]) -> Pending:
        pending = self._pending_by_token.get(m["token"])
        if pending is None or int(m["app_id"]) != self.application_id or not pending.responded.is_set():
            raise ApiError(404, 10015)
        return pending

    async def _r_callback(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        pending = self._pending.get(int(m["iid"]))
        if pending is None or pending.result.token != m["token"]:
            raise ApiError(404, 10062)
        if pending.responded.is_set():
            raise ApiError(400, 40060)
        age = asyncio.get_running_loop().time() - pending.created
        if self.interaction_deadline is not None and age > self.interaction_deadline:
            pending.error = f"the bot answered the interaction after {age:.2f} s (Discord allows 3 s)"
            pending.responded.set()
            raise ApiError(404, 10062)
        try:
            return self._accept_callback(pending, req)
        except ApiError as exc:
            pending.rejected.append(f"{req.method} {req.path} -> {exc.status} {exc.body()}")
            raise

    def _accept_callback(self, pending: Pending, req: RecordedRequest) -> tuple[int, Any]:
        body = req.json if isinstance(req.json, dict) else {}
        rtype = int(body.get("type") or 0)
        data: JSON = body.get("data") or {}
        itype = int(pending.payload["type"])
        allowed = {8} if itype == 4 else {4, 5, 9} if itype == 2 else {4, 5, 6, 7, 9}
        if rtype not in allowed:
            raise form_error(
                ["type"], "INTERACTION_RESPONSE_TYPE_INVALID", f"Interaction response type {rtype} is not valid here"
            )
        result = pending.result
        channel = self.channels[pending.channel_id]
        clicked = pending.clicked
        if rtype in (6, 7) and clicked is None:
            raise form_error(
                ["type"],
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Interaction response type {rtype} needs an interaction on a message",
            )
        message: JSON | None = None
        if rtype == 4:
            validate_message(data)
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
                raise form_error(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for k, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name") or "")) <= 100:
                    raise form_error(
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
                out["resource"]["message"] = public_message(message)
        return 200, out

    def _complete_click(self, pending: Pending, msg: JSON) -> None:
        """A click's result is the message it produced/updated, as stored now."""
        pending.result.data = copy.deepcopy(msg)
        pending.completed.set()

    def _interaction_message(
        self, pending: Pending, channel: Channel, body: JSON, *, flags: int, original: bool
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
            validate_message(body)
        except ApiError as exc:
            pending.rejected.append(f"{req.method} {req.path} -> {exc.status} {exc.body()}")
            raise
        result = pending.result
        # A followup is always a message of its own. After a "thinking" deferral (type 5) the placeholder stays
        # until PATCH @original replaces it: Discord's documented way to complete a deferral. (Discord has been
        # seen letting the first followup replace the placeholder, undocumented; the emulator does not, so the
        # bot cannot come to depend on it.)
        flags = int(body.get("flags") or 0)
        msg = self._interaction_message(pending, self.channels[pending.channel_id], body, flags=flags, original=False)
        result.followups.append(copy.deepcopy(body))
        wait = req.query.get("wait", "").lower() in ("1", "true")
        return (200, public_message(msg)) if wait else (204, None)

    async def _r_webhook_message(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        pending = self._pending_for_token(m)
        result = pending.result
        if m["mid"] == "@original":
            msg = result.original_message
        else:
            msg = next((f for f in result.followup_messages if f["id"] == m["mid"]), None)
        if msg is None:
            raise ApiError(404, 10008)
        channel = self.channels[pending.channel_id]
        if req.method == "GET":
            return 200, public_message(msg)
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
        return 200, public_message(msg)
