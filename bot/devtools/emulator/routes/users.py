"""REST handlers: the bot user, other users, the application, the gateway URL and DM channels."""

from __future__ import annotations

from typing import Any

from bot.devtools.emulator.model import JSON, RecordedRequest
from bot.devtools.emulator.protocol import ApiError, form_error
from bot.devtools.emulator.world import WorldModel


class UserRoutes(WorldModel):
    """``/users/...``, ``/applications/@me``, ``/gateway[/bot]``."""

    async def _r_me(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        me = self.users[self.bot_user_id].to_dict()
        me.update({"verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US", "email": None})
        return 200, me

    async def _r_user(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        user = self.users.get(int(m["user_id"]))
        if user is None:
            raise ApiError(404, 10013)
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
            "integration_types_config": {"0": {}, "1": {}} if self.user_install_enabled else {"0": {}},
            "approximate_guild_count": len(self.guilds),
        }

    async def _r_gateway(self, req: RecordedRequest, m: dict[str, str]) -> tuple[int, Any]:
        data: JSON = {"url": self.gateway_url}
        if req.path.endswith("/bot"):
            data.update(
                {
                    "shards": self.shard_count,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": max(0, 1000 - self.identify_count),
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
            raise form_error(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required") from None
        if uid not in self.users or uid == self.bot_user_id:
            raise form_error(["recipient_id"], "NUMBER_TYPE_COERCE", f'Value "{uid}" is not snowflake.')
        return 200, self._channel_dict(self._ensure_dm(uid))
