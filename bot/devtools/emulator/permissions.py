"""Discord's permission bits and how it computes a member's permissions in a channel."""

from __future__ import annotations

from bot.devtools.emulator.model import JSON, Guild

CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
#: Equal to ``discord.Permissions.all().value`` in discord.py 2.7.
ALL_PERMISSIONS = 8866461766385663
#: A typical @everyone role of a new server.
DEFAULT_EVERYONE = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
#: What the bot's managed role grants by default.
BOT_ROLE_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS
#: What Discord reports as ``app_permissions`` in a DM with the bot.
DM_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
)


def base_permissions(guild: Guild, user_id: int) -> int:
    """A member's guild-level permissions: owner/ADMINISTRATOR -> all, else @everyone | the member's roles."""
    if user_id == guild.owner_id:
        return ALL_PERMISSIONS
    member = guild.members.get(user_id)
    if member is None:
        raise AssertionError(f"user {user_id} is not a member of guild {guild.id}")
    perms = guild.roles[guild.id].permissions
    for rid in member.roles:
        perms |= guild.roles[rid].permissions
    return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms


def channel_permissions(guild: Guild, overwrites: list[JSON], user_id: int) -> int:
    """Discord's algorithm: the base permissions, then the channel's @everyone, role (deny then allow,
    unioned) and member ``overwrites``; then the implicit rules discord.py also applies (no VIEW_CHANNEL ->
    0; no SEND_MESSAGES -> no embeds/files/tts/@everyone)."""
    perms = base_permissions(guild, user_id)
    if perms == ALL_PERMISSIONS:  # owner or ADMINISTRATOR
        return ALL_PERMISSIONS
    member_roles = {str(r) for r in guild.members[user_id].roles}
    for ow in overwrites:
        if ow["type"] == 0 and ow["id"] == str(guild.id):
            perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
    allow = deny = 0
    for ow in overwrites:
        if ow["type"] == 0 and ow["id"] in member_roles:
            allow |= int(ow["allow"])
            deny |= int(ow["deny"])
    perms = (perms & ~deny) | allow
    for ow in overwrites:
        if ow["type"] == 1 and ow["id"] == str(user_id):
            perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
    if not perms & VIEW_CHANNEL:
        return 0
    if not perms & SEND_MESSAGES:
        perms &= ~(SEND_TTS_MESSAGES | MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES)
    return perms


def is_admin(guild: Guild, user_id: int) -> bool:
    """Whether the member bypasses every permission check (owner or ADMINISTRATOR)."""
    return user_id == guild.owner_id or base_permissions(guild, user_id) == ALL_PERMISSIONS
