"""A loopback Discord (REST + gateway) for driving the real, unmodified discord.py client.

Tests, benchmarks and ``paperbot demo`` use it (``bot.devtools.world.LoopbackWorld`` starts it with the fake
paper sources and restores discord.py's URLs). By hand, point discord.py at it and run a ``commands.Bot`` in
the same event loop::

    from bot.devtools.emulator import DiscordEmulator

    emu = DiscordEmulator()
    await emu.start()
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    task = asyncio.create_task(bot.start(DiscordEmulator.BOT_TOKEN))
    await emu.wait_for_ready()
    result = await emu.invoke(user_id=..., name="subscribe", guild_id=...)
    page2 = await emu.click(user_id=..., message=result.message, custom_id="next")   # a button on the reply
    ...
    await bot.close(); await task; await emu.stop()   # restore Route.BASE / DEFAULT_GATEWAY too

The emulator keeps a small world (users, guilds, roles, channels, members, messages), answers the REST
routes discord.py uses for login, command sync, interactions, followups, messages and DMs, and speaks the
gateway protocol (HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME with replay, RECONNECT,
INVALIDATE_SESSION, member chunks). It mimics Discord where tests care: permission computation (the bot
gets 403 50001/50013 where it may not view/send; embed-only posts without EMBED_LINKS -> 403, embeds
with content are dropped), message/embed limits (400 code 50035), nonce idempotency, 404/403 codes,
429s discord.py retries, the 3 s interaction-response deadline (``interaction_deadline``) and the
client-side gates on slash commands. Gateway frames are plain TEXT (``compress=zlib-stream`` is ignored;
discord.py only inflates BINARY frames). MESSAGE_CREATE / GUILD_MEMBER_ADD are only dispatched when the
bot IDENTIFYed with the matching intent.

Notes for test authors:

* ``messages(cid)`` lists what the bot posted with POST /channels/{cid}/messages. Interaction responses
  and followups are in the ``InteractionResult`` (and, when not ephemeral, in
  ``messages(cid, include_interaction_messages=True)`` / GET history).
* An attachment option (type 11) takes ``{"filename": ..., "content": bytes, "content_type": ...}``: the
  interaction carries its id and ``resolved.attachments`` (Discord's AttachmentResponse fields), and the bot
  downloads the bytes from the emulator's loopback CDN (``cdn_base``/attachments/{id}/{filename}).
* ``click(message=..., custom_id=...)`` presses a button on any live message the bot created (channel
  message, interaction response or followup, ephemeral or not; action rows or components v2 nesting)
  like the Discord client would: only enabled buttons, only where the user can see the message. It
  follows the bot's answer (UPDATE_MESSAGE, DEFERRED_UPDATE_MESSAGE + edit, or a new message) and keeps
  the stored message current, so later clicks see the new components.
* Faults: ``fail_next`` (the next N matching requests fail, 429s incl. a global one), ``fail_randomly``
  (seeded, reproducible), ``fail_after_create_next`` (the message is created, then a 5xx: the nonce must
  save the retry), ``set_channel_error``. ``enforce_rate_limits()`` (off by default) adds Discord's global
  50/s limit and per-channel message buckets with the headers discord.py paces itself by;
  ``rate_limited_count``, ``invalid_request_count``, ``requests_per_second`` and ``peak_requests`` measure.
* ``click(..., values=[...])`` chooses options of a string select (only offered values, within its
  min/max_values), as the Discord client would.
* Forums: ``add_forum(guild_id, name, tags=[...])`` makes a forum (type 15) with ``available_tags``;
  ``POST /channels/{forum}/threads`` creates a post (a public thread whose first message has the post's id)
  with Discord's checks (Send Messages = Create Posts, Embed Links, name ≤ 100, ``applied_tags`` existing on
  the forum and ≤ 5); a forum refuses ``POST /channels/{id}/messages`` (400 50008). ``posts(forum)`` lists its
  posts with their first ``message``; ``archive_post`` takes one out of ``GET /guilds/{id}/threads/active``.
* A "thinking" deferral (type 5) shows its placeholder until ``PATCH @original`` replaces it; followups are
  always messages of their own (``invoke`` waits for the edit). ``user_install_enabled = False`` makes command
  syncs that offer user installs (``integration_types`` with 1) fail with 400 50035, as Discord does.
* ``spec``: when set (``openapi.use_by_default``; the test suite does), every request is checked against
  Discord's OpenAPI specification and what breaks it is kept in ``spec_violations`` (and still answered).
* ``add_user_message`` puts someone else's message into a channel's history (GET /channels/{id}/messages).
* An unexpected REST call gets 404 ``{"message": "404: Not Found", "code": 0}``; see ``requests`` /
  ``find_requests``. An emulator bug is answered with 400 "emulator internal error" (never a 5xx, which
  discord.py would retry for ~25 s) and kept in ``internal_errors``.
* Shards: ``shard_count`` is what ``GET /gateway/bot`` recommends (default 1). Every IDENTIFY's ``shard: [id,
  count]`` gets a session of its own with only that shard's guilds (``(guild_id >> 22) % count``); a guild's
  events and interactions go to its shard's session, DMs to shard 0 (``invoke`` waits for that shard and raises
  TimeoutError when no bot runs it). An invalid shard is closed with 4010 and more than
  ``max_guilds_per_shard`` guilds on a shard with 4011, as on Discord; stricter than Discord, a shard already
  connected or another count is closed with 4010 too (catches two processes given one shard). New guilds get ids whose
  ``id >> 22`` advances by one, so consecutive guilds land on consecutive shards. ``live_shards()``,
  ``identified_shards``, ``refused_identifies`` and ``dispatched(shard)`` tell what happened.
* discord.py sleeps 5 s before every non-initial IDENTIFY (``Client.before_identify_hook``): after
  ``invalidate_session()`` a stock bot needs ~5 s to come back; override that hook in tests.

The parts, one module each: ``model`` (users, roles, channels, members, guilds, recorded requests,
interaction results), ``permissions`` (bits and Discord's algorithm), ``world`` (building the world),
``payloads`` (its JSON), ``messages``, ``gateway``, ``rest`` (plumbing; ``protocol`` and ``validation`` hold
the error bodies and form checks, ``openapi`` the check against Discord's specification) with ``routes/``
(handlers per resource; ``threads`` for forums), ``invocations`` and ``driver`` (what tests call to act as
users), ``faults`` and ``ratelimits``. ``DiscordEmulator`` (``emulator``) combines them.
"""

from bot.devtools.emulator.emulator import DiscordEmulator
from bot.devtools.emulator.model import Channel, Guild, InteractionResult, Member, RecordedRequest, Role, User
from bot.devtools.emulator.permissions import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    DEFAULT_EVERYONE,
    EMBED_LINKS,
    MANAGE_CHANNELS,
    MENTION_EVERYONE,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "DEFAULT_EVERYONE",
    "EMBED_LINKS",
    "MANAGE_CHANNELS",
    "MENTION_EVERYONE",
    "READ_MESSAGE_HISTORY",
    "SEND_MESSAGES",
    "VIEW_CHANNEL",
    "Channel",
    "DiscordEmulator",
    "Guild",
    "InteractionResult",
    "Member",
    "RecordedRequest",
    "Role",
    "User",
]
