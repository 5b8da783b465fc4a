"""REST handlers: global and guild application commands (bulk overwrite and listing)."""

from __future__ import annotations

import copy
from typing import Any

from bot.devtools.emulator.core import EmulatorCore
from bot.devtools.emulator.model import JSON, RecordedRequest
from bot.devtools.emulator.protocol import ApiError, form_error
from bot.devtools.emulator.validation import validate_command


class CommandRoutes(EmulatorCore):
    """The synced commands, as ``PUT /applications/{id}[/guilds/{id}]/commands`` left them."""

    def __init__(self) -> None:
        super().__init__()
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}

    def _check_app(self, m: dict[str, str]) -> None:
        if int(m["app_id"]) != self.application_id:
            raise ApiError(403, 50001)

    async def _r_get_commands(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        self._check_app(m)
        if "guild_id" in m:
            return 200, copy.deepcopy(self.guild_commands.get(int(m["guild_id"]), []))
        return 200, copy.deepcopy(self.global_commands)

    async def _r_put_commands(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        self._check_app(m)
        guild_id = int(m["guild_id"]) if "guild_id" in m else None
        if guild_id is not None and guild_id not in self.guilds:
            raise ApiError(403, 50001)
        body = req.json
        if not isinstance(body, list):
            raise form_error([], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        if len(body) > 100:
            raise form_error([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        old = self.guild_commands.get(guild_id, []) if guild_id is not None else self.global_commands
        old_ids = {(c["name"], c["type"]): c["id"] for c in old}
        version = str(self._snowflake())
        out: list[JSON] = []
        for i, cmd in enumerate(body):
            validate_command(cmd, [i])
            if not self.user_install_enabled and 1 in (cmd.get("integration_types") or []):
                raise form_error([i, "integration_types"], "BASE_TYPE_CHOICES", "Value must be one of {0}.")
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
            raise form_error([], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        if guild_id is None:
            self.global_commands = out
        else:
            self.guild_commands[guild_id] = out
        return 200, copy.deepcopy(out)

    def _find_command(self, name: str, guild_id: int | None) -> JSON | None:
        pools = ([self.guild_commands.get(guild_id, [])] if guild_id is not None else []) + [self.global_commands]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and cmd["type"] == 1:
                    return cmd
        return None

    def _visible_commands(self, guild_id: int | None) -> list[JSON]:
        return (self.guild_commands.get(guild_id, []) if guild_id is not None else []) + self.global_commands
