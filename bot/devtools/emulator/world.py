"""Building the world tests run in: users, guilds (with @everyone, the bot's role, the bot and the owner),
channels and their overwrites, roles, members, DM channels; and the permissions that follow from them."""

from __future__ import annotations

from collections.abc import Iterable

from bot.devtools.emulator.gateway import Gateway
from bot.devtools.emulator.model import (
    INTENT_GUILD_MEMBERS,
    INTENT_GUILDS,
    JSON,
    Channel,
    Guild,
    Member,
    Role,
    User,
)
from bot.devtools.emulator.permissions import BOT_ROLE_PERMISSIONS, DEFAULT_EVERYONE, channel_permissions


class WorldModel(Gateway):
    """Adds and changes users, guilds, channels, roles and members (dispatching the gateway events Discord
    would), and computes permissions."""

    def __init__(self) -> None:
        super().__init__()
        self._dm_by_user: dict[int, int] = {}

    def add_user(self, name: str = "user", *, user_id: int | None = None, dms_closed: bool = False) -> int:
        """Create a user (who can be DMed unless ``dms_closed``); return its id."""
        uid = user_id if user_id is not None else self._snowflake()
        self._users_add(User(uid, name, dms_closed=dms_closed))
        return uid

    def add_guild(
        self,
        name: str,
        *,
        guild_id: int | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE,
        owner_id: int | None = None,
    ) -> Guild:
        """Create a guild with @everyone, the bot's managed role, the bot and the owner as members."""
        gid = guild_id if guild_id is not None else self._guild_snowflake()
        owner = owner_id if owner_id is not None else self.owner_id
        if owner not in self.users:
            self.add_user(f"owner-{owner}", user_id=owner)
        guild = Guild(gid, name, owner, bot_role_id=self._snowflake())
        guild.roles[gid] = Role(gid, "@everyone", everyone_permissions, position=0)
        guild.roles[guild.bot_role_id] = Role(
            guild.bot_role_id,
            self.users[self.bot_user_id].name,
            BOT_ROLE_PERMISSIONS,
            position=1,
            managed=True,
            bot_id=self.bot_user_id,
        )
        guild.members[self.bot_user_id] = Member(self.bot_user_id, [guild.bot_role_id])
        guild.members[owner] = Member(owner, [])
        self.guilds[gid] = guild
        self._dispatch_if(INTENT_GUILDS, "GUILD_CREATE", lambda: self._guild_create_payload(guild, joined=True))
        self._notify()
        return guild

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        channel_id: int | None = None,
        overwrites: list[JSON] | None = None,
        type: int = 0,
        parent_id: int | None = None,
    ) -> int:
        """Create a guild channel; ``overwrites`` are ``{id, type (0 role/1 member), allow, deny}``."""
        guild = self._guild(guild_id)
        cid = channel_id if channel_id is not None else self._snowflake()
        channel = Channel(
            cid,
            type,
            name,
            guild_id=guild_id,
            overwrites=[self._norm_overwrite(o) for o in overwrites or []],
            position=len(guild.channel_ids),
            parent_id=parent_id,
        )
        self.channels[cid] = channel
        guild.channel_ids.append(cid)
        self._dispatch_if(INTENT_GUILDS, "CHANNEL_CREATE", lambda: self._channel_dict(channel))
        self._notify()
        return cid

    def update_channel(self, channel_id: int, *, name: str | None = None, overwrites: list[JSON] | None = None) -> None:
        """Change a guild channel's name/overwrites (dispatches CHANNEL_UPDATE when connected)."""
        channel = self._channel(channel_id)
        if name is not None:
            channel.name = name
        if overwrites is not None:
            channel.overwrites = [self._norm_overwrite(o) for o in overwrites]
        self._dispatch_if(INTENT_GUILDS, "CHANNEL_UPDATE", lambda: self._channel_dict(channel))
        self._notify()

    def remove_channel(self, channel_id: int) -> None:
        """Delete a guild channel: later posts get 404 code 10003 (dispatches CHANNEL_DELETE)."""
        channel = self.channels.pop(channel_id)
        if channel.guild_id is not None:
            self.guilds[channel.guild_id].channel_ids.remove(channel_id)
            self._dispatch_if(INTENT_GUILDS, "CHANNEL_DELETE", lambda: self._channel_dict(channel))
        self._notify()

    def add_role(self, guild_id: int, name: str, permissions: int = 0, *, mentionable: bool = False) -> int:
        """Create a role (above the existing ones); ``mentionable``: anyone may ping it. Return its id."""
        guild = self._guild(guild_id)
        rid = self._snowflake()
        role = Role(rid, name, permissions, position=len(guild.roles), mentionable=mentionable)
        guild.roles[rid] = role
        self._dispatch_if(
            INTENT_GUILDS, "GUILD_ROLE_CREATE", lambda: {"guild_id": str(guild_id), "role": role.to_dict()}
        )
        self._notify()
        return rid

    def add_member(
        self, guild_id: int, *, user_id: int | None = None, name: str = "user", roles: Iterable[int] = ()
    ) -> int:
        """Add a member (creating the user unless it exists); return the user id."""
        guild = self._guild(guild_id)
        uid = user_id if user_id is not None and user_id in self.users else self.add_user(name, user_id=user_id)
        role_ids = list(roles)
        for rid in role_ids:
            if rid not in guild.roles:
                raise AssertionError(f"role {rid} is not in guild {guild_id}")
        guild.members[uid] = Member(uid, role_ids)
        self._dispatch_if(
            INTENT_GUILD_MEMBERS,
            "GUILD_MEMBER_ADD",
            lambda: {**self._member_dict(guild, guild.members[uid]), "guild_id": str(guild_id)},
        )
        self._notify()
        return uid

    @staticmethod
    def _norm_overwrite(ow: JSON) -> JSON:
        kind = ow.get("type", 0)
        kind = {"role": 0, "member": 1}.get(kind, kind) if isinstance(kind, str) else int(kind)
        return {
            "id": str(ow["id"]),
            "type": kind,
            "allow": str(int(ow.get("allow", 0))),
            "deny": str(int(ow.get("deny", 0))),
        }

    def permissions_for(self, guild_id: int, channel_id: int, user_id: int) -> int:
        """Discord's algorithm: owner/ADMINISTRATOR -> all; else @everyone | roles, then the channel's
        @everyone, role (deny then allow, unioned) and member overwrites; then the implicit rules
        discord.py also applies (no VIEW_CHANNEL -> 0; no SEND_MESSAGES -> no embeds/files/tts/@everyone)."""
        guild = self._guild(guild_id)
        channel = self._channel(channel_id)
        if channel.guild_id != guild_id:
            raise AssertionError(f"channel {channel_id} is not in guild {guild_id}")
        overwrites = channel.overwrites
        parent = self.channels.get(channel.parent_id) if channel.parent_id is not None else None
        if channel.type in (10, 11, 12) and parent is not None:  # threads use the parent's
            overwrites = parent.overwrites
        return channel_permissions(guild, overwrites, user_id)

    def dm_channel_id(self, user_id: int) -> int | None:
        """The user's DM channel with the bot, once the bot (or an interaction) opened it."""
        return self._dm_by_user.get(user_id)

    def _ensure_dm(self, user_id: int) -> Channel:
        cid = self._dm_by_user.get(user_id)
        if cid is None:
            cid = self._snowflake()
            self.channels[cid] = Channel(cid, 1, None, recipient_id=user_id)
            self._dm_by_user[user_id] = cid
        return self.channels[cid]
