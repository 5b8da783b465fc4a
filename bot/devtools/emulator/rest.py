"""REST plumbing: parse and record each request, check the token, apply faults and rate limits, route it
to its handler, and turn handler errors into Discord's answers."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.devtools.emulator import openapi
from bot.devtools.emulator.faults import InjectedFault
from bot.devtools.emulator.model import RecordedRequest
from bot.devtools.emulator.openapi import DiscordSpec, SpecViolation
from bot.devtools.emulator.protocol import ApiError, json_response, needs_auth
from bot.devtools.emulator.ratelimits import RateLimiting
from bot.devtools.emulator.routes.channels import ChannelRoutes
from bot.devtools.emulator.routes.commands import CommandRoutes
from bot.devtools.emulator.routes.guilds import GuildRoutes
from bot.devtools.emulator.routes.threads import ThreadRoutes
from bot.devtools.emulator.routes.users import UserRoutes

_log = logging.getLogger(__name__)

#: A route handler: (the request, the path's named groups) -> (status, JSON payload).
Handler = Callable[[RecordedRequest, dict[str, str]], Awaitable[tuple[int, Any]]]


class RestServer(UserRoutes, CommandRoutes, ThreadRoutes, ChannelRoutes, GuildRoutes, RateLimiting):
    """Serves ``/api/v10``: every route discord.py uses for login, command sync, interactions, followups,
    messages and DMs. An unexpected call gets 404 ``{"message": "404: Not Found", "code": 0}``."""

    def __init__(self) -> None:
        super().__init__()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._build_routes()
        #: Discord's specification every request is checked against (None: not checked); see ``openapi``.
        self.spec: DiscordSpec | None = openapi.default_spec()
        #: What the bot sent that breaks the specification, in order (answered as usual all the same).
        self.spec_violations: list[SpecViolation] = []

    def _build_routes(self) -> None:
        app, tok = r"(?P<app_id>\d+)", r"(?P<token>[^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/users/@me", self._r_me),
            ("GET", r"/users/(?P<user_id>\d+)", self._r_user),
            ("POST", r"/users/@me/channels", self._r_create_dm),
            ("GET", r"/(?:oauth2/)?applications/@me", self._r_app_info),
            ("GET", r"/gateway", self._r_gateway),
            ("GET", r"/gateway/bot", self._r_gateway),
            ("GET", rf"/applications/{app}/commands", self._r_get_commands),
            ("PUT", rf"/applications/{app}/commands", self._r_put_commands),
            ("GET", rf"/applications/{app}/guilds/(?P<guild_id>\d+)/commands", self._r_get_commands),
            ("PUT", rf"/applications/{app}/guilds/(?P<guild_id>\d+)/commands", self._r_put_commands),
            ("POST", rf"/interactions/(?P<iid>\d+)/{tok}/callback", self._r_callback),
            ("POST", rf"/webhooks/{app}/{tok}", self._r_followup),
            ("GET", rf"/webhooks/{app}/{tok}/messages/(?P<mid>@original|\d+)", self._r_webhook_message),
            ("PATCH", rf"/webhooks/{app}/{tok}/messages/(?P<mid>@original|\d+)", self._r_webhook_message),
            ("DELETE", rf"/webhooks/{app}/{tok}/messages/(?P<mid>@original|\d+)", self._r_webhook_message),
            ("GET", r"/channels/(?P<cid>\d+)", self._r_get_channel),
            ("GET", r"/channels/(?P<cid>\d+)/messages", self._r_list_messages),
            ("POST", r"/channels/(?P<cid>\d+)/messages", self._r_post_message),
            ("GET", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._r_channel_message),
            ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._r_channel_message),
            ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._r_channel_message),
            ("POST", r"/channels/(?P<cid>\d+)/typing", self._r_typing),
            ("POST", r"/channels/(?P<cid>\d+)/threads", self._r_create_thread),
            ("GET", r"/guilds/(?P<guild_id>\d+)/threads/active", self._r_active_threads),
            ("GET", r"/guilds/(?P<guild_id>\d+)", self._r_get_guild),
            ("GET", r"/guilds/(?P<guild_id>\d+)/channels", self._r_guild_channels),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", self._r_guild_member),
        ]
        self._routes = [(m, re.compile(p), h) for m, p, h in table]

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/api/v10/"):
            return json_response(404, {"message": "404: Not Found", "code": 0})
        path = path[len("/api/v10") :]
        body: Any = None
        form_fields: list[str] | None = None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            form_fields = list(form.keys())
            raw_json = form.get("payload_json")
            payload = json.loads(str(raw_json)) if raw_json is not None else {}
            files = [
                {"filename": v.filename, "size": len(v.file.read()), "content_type": v.content_type}
                for k, v in form.items()
                if k.startswith("files[") and isinstance(v, web.FileField)
            ]
            body = {**payload, "_files": files}
        else:
            raw = await request.read()
            if raw:
                try:
                    payload = body = json.loads(raw)
                except ValueError:
                    payload = body = raw.decode("utf-8", "replace")
            else:
                payload = None
        rec = RecordedRequest(
            request.method, path, dict(request.query), body, dict(request.headers), time=time.monotonic()
        )
        self.requests.append(rec)
        self._check_spec(rec, request.content_type if body is not None else "", payload, form_fields)
        response = await self._respond(rec)
        rec.status = response.status
        if response.status == 429:
            self.rate_limited_count += 1
        if response.status in (401, 403, 429):
            self.invalid_request_count += 1
        self._notify()
        return response

    def _check_spec(self, rec: RecordedRequest, content_type: str, payload: Any, form_fields: list[str] | None) -> None:
        if self.spec is None:
            return
        found = self.spec.check(
            rec.method, rec.path, rec.query, content_type=content_type, body=payload, form_fields=form_fields
        )
        for violation in found:
            _log.warning("request breaks Discord's API specification: %s", violation)
        self.spec_violations.extend(found)
        openapi.report(found)

    async def _respond(self, rec: RecordedRequest) -> web.Response:
        """Auth, then injected faults (``fail_next``, then ``fail_randomly``), then rate-limit enforcement,
        then the route's handler (and ``fail_after_create_next`` on its 2xx answer)."""
        if needs_auth(rec.path) and rec.headers.get("Authorization") != f"Bot {self.BOT_TOKEN}":
            rec.response = {"message": "401: Unauthorized", "code": 0}
            return json_response(401, rec.response)
        fault = self._take_fault(self._faults, rec.method, rec.path) or self._take_random_fault(rec.method, rec.path)
        if fault is not None:
            return self._inject(rec, fault)
        limited, bucket = self._admit(rec)
        if limited is not None:
            return limited
        status, payload = await self._route(rec)
        rec.response = payload
        if 200 <= status < 300:
            fault = self._take_fault(self._after_create_faults, rec.method, rec.path)
            if fault is not None:
                return self._inject(rec, fault)
        headers: dict[str, str] = {}
        if bucket is not None and self._rate_limits is not None:
            headers = self._bucket_headers(rec, bucket, self._rate_limits.channel_limit)
        rec.response_headers = headers
        return json_response(status, payload, headers)

    async def _route(self, rec: RecordedRequest) -> tuple[int, Any]:
        path_matched = False
        for method, pattern, handler in self._routes:
            m = pattern.fullmatch(rec.path)
            if m is None:
                continue
            path_matched = True
            if method != rec.method:
                continue
            try:
                return await handler(rec, m.groupdict())
            except ApiError as exc:
                return exc.status, exc.body()
            except Exception as exc:  # an emulator bug: fail loudly, and not with a 5xx discord.py would retry
                _log.exception("emulator error handling %s %s", rec.method, rec.path)
                self.internal_errors.append(exc)
                return 400, {"message": f"emulator internal error: {exc!r}", "code": 0}
        if path_matched:
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        return 404, {"message": "404: Not Found", "code": 0}

    def _inject(self, rec: RecordedRequest, fault: InjectedFault) -> web.Response:
        self.injected_faults.append((rec.method, rec.path, fault.status))
        return self._error_response(
            rec, fault.status, fault.code, fault.message, retry_after=fault.retry_after, global_=fault.global_
        )
