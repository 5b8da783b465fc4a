"""The interactions driver tests use: run slash commands, autocomplete, click buttons, and wait for the
bot's answers."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import Any

from bot.devtools.emulator.invocations import Invocations
from bot.devtools.emulator.model import EPHEMERAL, JSON, InteractionResult
from bot.devtools.emulator.permissions import VIEW_CHANNEL
from bot.devtools.emulator.routes.interactions import Pending


class InteractionsDriver(Invocations):
    """``invoke``, ``autocomplete`` and ``click`` as a Discord user would, against the live bot."""

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
        deferral, for the ``PATCH @original`` that replaces the "thinking" placeholder). ``subcommand`` may
        be ``"sub"`` or ``"group sub"``. Raises AssertionError for unsynced commands/bad options,
        PermissionError where Discord would not offer the command, TimeoutError when the bot does not answer
        (or leaves the placeholder showing)."""
        pending = self._prepare(2, user_id, name, subcommand, options or {}, None, guild_id, channel_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self._deliver(pending, timeout)
        await self._wait_event(
            pending, pending.responded, deadline, f"bot did not respond to /{name} within {timeout} s"
        )
        if pending.error:
            raise AssertionError(pending.error)
        try:
            await self._wait_event(
                pending,
                pending.completed,
                deadline,
                f"/{name} was deferred but its original response was not edited within {timeout} s",
            )
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}{self._placeholder_hint(pending)}") from None
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
        values: list[str] | None = None,
    ) -> InteractionResult:
        """Click the button ``custom_id`` on a message the bot created, as ``user_id``: dispatch a
        component interaction (type 3) and wait for the bot's answer. For a string select, pass the chosen
        option ``values`` (they must be among its options, within its min/max_values).

        ``message`` is a message dict from ``messages()``, GET history, ``InteractionResult.message`` or
        ``followup_messages``; only its ``id`` counts -- the click happens on the message as stored now.
        The result's ``data`` is the message the click produced: the clicked message after an
        UPDATE_MESSAGE (type 7) or after a DEFERRED_UPDATE_MESSAGE (type 6) followed by an edit
        (``PATCH @original`` or PATCH /channels/{cid}/messages/{mid}); a new message for type 4, or type 5
        followed by an edit of its placeholder. ``wait_for_edit=False`` returns right after a type 6 (buttons that only
        acknowledge). Raises AssertionError where Discord would not let the user click (unknown or
        deleted message, no such button, disabled button, someone else's ephemeral message, a channel the
        user cannot see) or the bot's answer was late, TimeoutError when the bot does not answer (e.g. no
        view listens for the custom_id any more: Discord shows "This interaction failed")."""
        pending = self._prepare_click(user_id, message, custom_id, guild_id, values)
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
        try:
            await self._wait_event(
                pending, pending.completed, deadline, f"{what} was deferred but not edited within {timeout} s{hint}"
            )
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}{self._placeholder_hint(pending)}") from None
        return result

    @staticmethod
    def _placeholder_hint(pending: Pending) -> str:
        count = len(pending.result.followups)
        if pending.result.response_type != 5 or not count:
            return ""
        return (
            f"; {count} followup(s) arrived as separate messages and the user still sees the "
            '"thinking" placeholder: complete a deferral with edit_original_response (PATCH @original)'
        )

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

    def _prepare_click(
        self, user_id: int, message: JSON, custom_id: str, guild_id: int | None, values: list[str] | None = None
    ) -> Pending:
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
        if button.get("disabled"):
            raise AssertionError(f"component {custom_id!r} on message {mid} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": button.get("type")}
        if button.get("type") == 3:
            data["values"] = self._select_values(button, values)
        elif button.get("type") != 2 or values is not None:
            raise AssertionError(f"component {custom_id!r} is of type {button.get('type')}, not a button")
        if "id" in button:
            data["id"] = button["id"]
        return self._interaction_payload(3, data, user_id, guild, channel, context, perms, message=stored)

    @staticmethod
    def _select_values(select: JSON, values: list[str] | None) -> list[str]:
        """What the Discord client lets a user choose in a string select: its options, min..max of them."""
        offered = [str(o.get("value")) for o in select.get("options") or []]
        chosen = list(values or [])
        low, high = int(select.get("min_values", 1)), int(select.get("max_values", 1))
        if not low <= len(chosen) <= high:
            raise AssertionError(f"select {select.get('custom_id')!r} takes {low}..{high} values, got {chosen}")
        if unknown := [v for v in chosen if v not in offered]:
            raise AssertionError(f"select {select.get('custom_id')!r} offers {offered}, not {unknown}")
        return chosen

    async def _wait_event(self, pending: Pending, event: asyncio.Event, deadline: float, message: str) -> None:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(event.wait(), max(remaining, 0.001))
        except TimeoutError:
            if pending.rejected:
                message += f"; the emulator rejected: {pending.rejected}"
            raise TimeoutError(message) from None

    async def _deliver(self, pending: Pending, timeout: float) -> None:
        await self.wait_for_route("INTERACTION_CREATE", pending.payload, timeout)  # its guild's shard, or shard 0
        pending.created = asyncio.get_running_loop().time()
        self._pending[pending.result.interaction_id] = pending
        self._pending_by_token[pending.result.token] = pending
        self.interactions.append(pending.result)
        self._dispatch("INTERACTION_CREATE", pending.payload)

    async def wait_for_followups(self, result: InteractionResult, count: int, timeout: float = 10) -> list[JSON]:
        """Wait until ``result.followups`` has at least ``count`` entries; return them."""
        await self.wait_until(lambda: len(result.followups) >= count, timeout)
        return list(result.followups)
