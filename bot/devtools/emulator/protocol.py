"""REST protocol pieces the handlers share: Discord's error codes and bodies, JSON responses, and which
routes need the bot token."""

from __future__ import annotations

import http
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from bot.devtools.emulator.model import JSON

ERROR_MESSAGES = {
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    40060: "Interaction has already been acknowledged.",
    40067: "A tag is required to create a forum post in this channel",
    50001: "Missing Access",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50035: "Invalid Form Body",
}


def status_message(status: int, code: int) -> str:
    """Discord's message for an error code, else e.g. ``500: Internal Server Error``."""
    if code in ERROR_MESSAGES:
        return ERROR_MESSAGES[code]
    try:
        return f"{status}: {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def ceil_ms(seconds: float) -> float:
    """Round up to whole milliseconds (rate-limit times must never tell a client to come back too early)."""
    return math.ceil(round(seconds * 1000, 6)) / 1000


class ApiError(Exception):
    """An error answer a handler raises: HTTP ``status``, Discord ``code``, message and form ``errors``."""

    def __init__(self, status: int, code: int, message: str = "", errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message or status_message(status, code)
        self.errors = errors

    def body(self) -> JSON:
        """The JSON body Discord sends with the error."""
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def form_error(path: Iterable[str | int], code: str, message: str) -> ApiError:
    """A 400/50035 with Discord's nested ``errors`` shape for the field at ``path``."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(list(path)):
        errors = {str(key): errors}
    return ApiError(400, 50035, "Invalid Form Body", errors)


def needs_auth(path: str) -> bool:
    """Whether a request to ``path`` (without /api/v10) must carry the bot token: interaction callbacks,
    webhooks (followups) and the gateway URL are authenticated by their token in the path, or not at all."""
    return not (path.startswith("/interactions/") or re.match(r"/webhooks/\d+/[^/]+", path) or path == "/gateway")


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    """``payload`` as a JSON response (204 without a body for None)."""
    extra = dict(headers or {})
    if status == 204 or payload is None:
        return web.Response(status=204, headers=extra)
    return web.Response(
        status=status, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json", **extra}
    )
