"""``DiscordEmulator``: the emulator's parts on one loopback server (see the package docstring)."""

from __future__ import annotations

from aiohttp import web

from bot.devtools.emulator.driver import InteractionsDriver
from bot.devtools.emulator.rest import RestServer
from bot.devtools.loopback import LoopbackServer


class DiscordEmulator(InteractionsDriver, RestServer, LoopbackServer):
    """REST + gateway Discord on 127.0.0.1 for one bot (see the package docstring)."""

    client_max_size = 64 * 1024 * 1024  # attachments

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_get("/attachments/{id}/{filename}", self._cdn_handler)
        app.router.add_route("*", "/{tail:.*}", self._rest_handler)

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve REST under /api/v10 and the gateway at /gateway."""
        await super().start()
        self.api_base = f"{self.base_url}/api/v10"
        self.cdn_base = self.base_url
        self.gateway_url = f"ws://127.0.0.1:{self.port}/gateway"

    async def _cdn_handler(self, request: web.Request) -> web.Response:
        """The loopback CDN: a file a user attached to a slash command, as cdn.discordapp.com serves it."""
        content = self.uploads.get(int(request.match_info["id"])) if request.match_info["id"].isdigit() else None
        if content is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=content, content_type="application/octet-stream")

    async def stop(self) -> None:
        """Close every gateway socket and the server. Close the bot first, or it will try to reconnect."""
        await self._close_gateways()
        await super().stop()
