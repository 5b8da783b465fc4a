"""The sender's Discord transport: posts embeds with discord.py and maps Discord's errors to policy."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
import discord

from bot.delivery.render import Embed
from bot.delivery.sender import Rejected, RetryLater, TargetGone

# 403 codes that are about pacing, not permission: try again later instead of pausing.
TRANSIENT_FORBIDDEN = {40003}


def describe_http_error(exc: discord.HTTPException) -> str:
    """A short, user-facing reason such as ``Missing Permissions (403, code 50013)``."""
    text = exc.text or exc.response.reason or "error"
    return f"{text} ({exc.status}, code {exc.code})" if exc.code else f"{text} ({exc.status})"


class DiscordTransport:
    """Posts one message of embeds into a channel by id, without needing the channel in cache."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def send(self, channel_id: int, embeds: Sequence[Embed], nonce: str) -> int:
        channel = self.client.get_partial_messageable(channel_id)
        try:
            message = await channel.send(
                embeds=[discord.Embed.from_dict(e) for e in embeds],
                nonce=nonce,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            if exc.code in TRANSIENT_FORBIDDEN:
                raise RetryLater(describe_http_error(exc)) from exc
            raise TargetGone(describe_http_error(exc)) from exc
        except discord.HTTPException as exc:
            if exc.status == 429 or exc.status >= 500:
                retry_after = getattr(exc, "retry_after", None)
                raise RetryLater(describe_http_error(exc), retry_after) from exc
            raise Rejected(describe_http_error(exc)) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RetryLater(f"network error: {type(exc).__name__}: {exc}") from exc
        return message.id
