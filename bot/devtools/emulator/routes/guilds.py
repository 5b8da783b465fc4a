"""REST handlers: guilds, their channels and members."""

from __future__ import annotations

from typing import Any

from bot.devtools.emulator.model import Guild, RecordedRequest
from bot.devtools.emulator.payloads import Payloads
from bot.devtools.emulator.protocol import ApiError


class GuildRoutes(Payloads):
    """``/guilds/{id}[/channels|/members/{id}]``."""

    def _rest_guild(self, gid: str) -> Guild:
        guild = self.guilds.get(int(gid))
        if guild is None:
            raise ApiError(404, 10004)
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
            raise ApiError(404, 10007)
        return 200, self._member_dict(guild, member)
