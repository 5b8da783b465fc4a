"""Building the INTERACTION_CREATE payloads the driver dispatches: where the interaction happens, the
client-side gates Discord applies to slash commands, and option values with their ``resolved`` data."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from typing import Any

from bot.devtools.emulator.model import JSON, Channel, Guild, InteractionResult
from bot.devtools.emulator.payloads import public_message
from bot.devtools.emulator.permissions import DM_PERMISSIONS, VIEW_CHANNEL, is_admin
from bot.devtools.emulator.routes.commands import CommandRoutes
from bot.devtools.emulator.routes.interactions import InteractionRoutes, Pending


class Invocations(CommandRoutes, InteractionRoutes):
    """Turns a test's "user X runs /name with these options" into the payload Discord would send."""

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
    ) -> Pending:
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
            if dmp is not None and not is_admin(guild, user_id):
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
    ) -> Pending:
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
            payload["message"] = copy.deepcopy(public_message(message))
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
        return Pending(payload, InteractionResult(iid, token), created=0.0, clicked=message)

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
        elif otype == 11:
            value = self._attachment_option(nm, value, resolved)
        else:
            raise AssertionError(f"option {nm!r} (type {otype}): unsupported or unknown value {value!r}")
        choices = d.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise AssertionError(f"option {nm!r}: {value!r} is not one of the choices")
        return value

    def _attachment_option(self, nm: str, value: Any, resolved: JSON) -> str:
        """An uploaded file, given as ``{"filename": ..., "content": bytes, "content_type": ...}``: Discord sends
        its id as the value and the attachment in ``resolved.attachments``, served from the loopback CDN."""
        if not isinstance(value, dict) or not isinstance(value.get("content"), bytes) or not value.get("filename"):
            raise AssertionError(f"option {nm!r} needs {{'filename': str, 'content': bytes}}, got {value!r}")
        aid = self._snowflake()
        url = f"{self.cdn_base}/attachments/{aid}/{value['filename']}"
        entry: JSON = {
            "id": str(aid),
            "filename": value["filename"],
            "size": len(value["content"]),
            "url": url,
            "proxy_url": url,
            "ephemeral": True,
        }
        if value.get("content_type"):
            entry["content_type"] = value["content_type"]
        self.uploads[aid] = value["content"]
        resolved.setdefault("attachments", {})[str(aid)] = entry
        return str(aid)

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
