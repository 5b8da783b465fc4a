"""The JSON Discord sends for members, channels, guilds and messages."""

from __future__ import annotations

import copy

from bot.devtools.emulator.core import EmulatorCore
from bot.devtools.emulator.model import JSON, Channel, Guild, Member


def public_message(msg: JSON) -> JSON:
    """A stored message as Discord returns it (without the ``allowed_mentions`` the bot sent)."""
    return {k: v for k, v in msg.items() if k != "allowed_mentions"}


class Payloads(EmulatorCore):
    """Serializes the world the way Discord's REST answers and gateway events do."""

    def _member_dict(self, guild: Guild, member: Member, *, permissions: int | None = None) -> JSON:
        data: JSON = {
            "user": self.users[member.user_id].to_dict(),
            "roles": [str(r) for r in member.roles],
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def _channel_dict(self, channel: Channel) -> JSON:
        last = str(channel.last_message_id) if channel.last_message_id else None
        if channel.recipient_id is not None:
            return {
                "id": str(channel.id),
                "type": 1,
                "last_message_id": last,
                "flags": 0,
                "recipients": [self.users[channel.recipient_id].to_dict()],
            }
        data: JSON = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": copy.deepcopy(channel.overwrites),
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": last,
            "flags": channel.flags,
        }
        if channel.type in (2, 13):
            data.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None})
        if channel.type in (10, 11, 12):
            data.update(
                {
                    "owner_id": str(channel.owner_id),
                    "applied_tags": list(channel.applied_tags),
                    "message_count": len(self._thread_messages(channel.id)),
                    "total_message_sent": len(self._thread_messages(channel.id)),
                    "member_count": 1,
                    "thread_metadata": {
                        "archived": channel.archived,
                        "archive_timestamp": channel.created_at,
                        "auto_archive_duration": 4320,
                        "locked": False,
                        "create_timestamp": channel.created_at,
                    },
                }
            )
            for key in ("position", "permission_overwrites", "topic", "nsfw"):
                data.pop(key)
        if channel.type in (15, 16):
            data.update(
                {
                    "available_tags": copy.deepcopy(channel.available_tags),
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "default_thread_rate_limit_per_user": 0,
                }
            )
        return data

    def _thread_messages(self, thread_id: int) -> list[JSON]:
        """The messages in a thread (the routes that keep messages say which)."""
        return []

    def _guild_dict(self, guild: Guild) -> JSON:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.to_dict() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "widget_enabled": False,
            "incidents_data": None,
        }

    def _guild_create_payload(self, guild: Guild, *, joined: bool = False) -> JSON:
        """Full GUILD_CREATE: like Discord (no presences intent) it carries only the bot's member.
        ``joined`` (the bot was just added): no ``unavailable`` key, so discord.py fires on_guild_join."""
        data = self._guild_dict(guild)
        if not joined:
            data["unavailable"] = False
        data.update(
            {
                "joined_at": guild.joined_at,
                "large": False,
                "lazy": True,
                "member_count": len(guild.members),
                "voice_states": [],
                "presences": [],
                "threads": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "members": [self._member_dict(guild, guild.members[self.bot_user_id])],
                "channels": [self._channel_dict(self.channels[c]) for c in guild.channel_ids],
            }
        )
        for ch in data["channels"]:
            ch.pop("guild_id", None)  # Discord omits it inside GUILD_CREATE
        return data
