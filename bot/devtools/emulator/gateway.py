"""The gateway: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME with replay, RECONNECT,
INVALIDATE_SESSION, member chunks, and dispatching events under the intents the bot asked for.

Sharded like Discord: each IDENTIFY names its ``shard: [id, count]`` (none: ``[0, 1]``) and gets a session of its
own; a guild's events (GUILD_CREATE, interactions, ...) go to the session of shard ``(guild_id >> 22) % count``,
everything else (DMs) to shard 0. An invalid shard is closed with 4010 Invalid shard, and a shard with more than
``max_guilds_per_shard`` guilds with 4011 Sharding required, as Discord does. Stricter than Discord (which may
accept them), so that tests catch two processes given one shard: a shard already connected, or a count differing
from the connected shards', is closed with 4010 too."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from bot.devtools.emulator.model import JSON
from bot.devtools.emulator.payloads import Payloads

# What Discord's dispatch of a guild event names its guild by: the GUILD_* events about the guild itself by "id".
_GUILD_BY_ID = {"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"}
CLIENT_DONE = (1000, 1001)  # a client closing with these ends its session (Discord: no RESUME after them)


class Connection:
    """One gateway websocket; frames go out through a queue so their order is the dispatch order."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.request = request
        self.queue: asyncio.Queue[JSON | None] = asyncio.Queue()
        self.live = False  # identified/resumed: receives dispatches
        self.closed = asyncio.Event()

    def send(self, payload: JSON) -> None:
        """Queue a frame (dropped once the socket closed)."""
        if not self.closed.is_set():
            self.queue.put_nowait(payload)


@dataclass
class Session:
    """The bot's gateway session: what a RESUME replays, and the socket it is live on."""

    session_id: str
    intents: int
    seq: int = 0
    events: list[JSON] = field(default_factory=list)
    conn: Connection | None = None
    resumable: bool = True
    shard: int = 0
    shard_count: int = 1

    @property
    def live(self) -> bool:
        return self.conn is not None and self.conn.live


class Gateway(Payloads):
    """The bot's gateway session and its websockets (frames are plain TEXT: ``compress=zlib-stream`` is
    ignored, discord.py only inflates BINARY frames)."""

    def __init__(self) -> None:
        super().__init__()
        self.gateway_url = ""
        self.gateway_received: list[JSON] = []  # every frame the client sent (op, d)
        self.identify_count = 0
        self.resume_count = 0
        self.intents: int | None = None
        self.shard_count = 1  # what GET /gateway/bot recommends
        self.max_guilds_per_shard = 2500  # more on one shard: 4011 Sharding required (Discord's limit)
        self.identified_shards: list[tuple[int, int]] = []  # (id, count) of every accepted IDENTIFY
        self.refused_identifies: list[tuple[int, str]] = []  # (close code, reason) of every refused one
        self._sessions: dict[int, Session] = {}  # by shard id
        self._connections: set[Connection] = set()
        self._ready = asyncio.Event()

    async def _close_gateways(self) -> None:
        """Close every gateway socket (the bot sees the emulator going away)."""
        for conn in list(self._connections):
            conn.live = False
            await conn.ws.close(code=1001, message=b"emulator stopping")
        self._set_ready()

    async def wait_for_ready(self, timeout: float = 10) -> None:
        """Wait until the bot has IDENTIFYed (and got READY + GUILD_CREATEs) or RESUMEd."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"bot did not connect to the gateway within {timeout} s") from None

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws, request)
        self._connections.add(conn)
        writer = asyncio.create_task(self._gateway_writer(conn))
        conn.send({"op": 10, "d": {"heartbeat_interval": self.HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                self.gateway_received.append(payload)
                await self._gateway_op(conn, payload)
                self._notify()
        finally:
            conn.live = False
            conn.closed.set()
            conn.queue.put_nowait(None)
            self._connections.discard(conn)
            for shard, session in list(self._sessions.items()):
                if session.conn is conn:
                    session.conn = None
                    if ws.close_code in CLIENT_DONE:
                        del self._sessions[shard]
            self._set_ready()
            self._notify()
            await writer
        return ws

    async def _gateway_writer(self, conn: Connection) -> None:
        while True:
            payload = await conn.queue.get()
            if payload is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(json.dumps(payload))
            except (ConnectionError, RuntimeError):
                return

    def _set_ready(self) -> None:
        """Ready: some shard identified, and every identified shard connected."""
        if self._sessions and all(s.live for s in self._sessions.values()):
            self._ready.set()
        else:
            self._ready.clear()

    def live_shards(self) -> list[int]:
        """The shard ids with a live gateway session, in order."""
        return sorted(shard for shard, s in self._sessions.items() if s.live)

    def dispatched(self, shard: int) -> list[JSON]:
        """The events sent on a shard's current session so far (``{"op": 0, "t", "s", "d"}``), oldest first."""
        session = self._sessions.get(shard)
        return [] if session is None else list(session.events)

    def shard_of(self, guild_id: int) -> int:
        """The shard a guild's events go to, for the shard count the connected sessions identified with."""
        count = next(iter(self._sessions.values())).shard_count if self._sessions else self.shard_count
        return (guild_id >> 22) % count

    def _shard_session(self, event: str, data: JSON) -> Session | None:
        """The session an event goes to: its guild's shard's, or shard 0's (DMs, anything else)."""
        guild_id = data.get("guild_id") or (data.get("id") if event in _GUILD_BY_ID else None)
        return self._sessions.get(self.shard_of(int(guild_id)) if guild_id else 0)

    async def wait_for_route(self, event: str, data: JSON, timeout: float = 10) -> None:
        """Wait until the shard that ``event`` goes to has a live session."""
        try:
            await self.wait_until(lambda: (s := self._shard_session(event, data)) is not None and s.live, timeout)
        except TimeoutError:
            guild = data.get("guild_id")
            where = f"guild {guild}'s shard {self.shard_of(int(guild))}" if guild else "shard 0 (DMs)"
            raise TimeoutError(f"no bot is connected on {where} within {timeout} s") from None

    async def _gateway_op(self, conn: Connection, payload: JSON) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if not isinstance(d, dict) or d.get("token") != self.BOT_TOKEN:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            refused = self._refuse_shard(conn, d.get("shard", [0, 1]))
            if refused is not None:
                self.refused_identifies.append(refused)
                await conn.ws.close(code=refused[0], message=refused[1].encode())
                return
            self._identify(conn, d)
        elif op == 6:
            if not isinstance(d, dict) or d.get("token") != self.BOT_TOKEN:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            self._resume(conn, d)
        elif op == 8 and isinstance(d, dict):
            self._member_chunk(d)

    def _refuse_shard(self, conn: Connection, shard: object) -> tuple[int, str] | None:
        """Discord's close code and reason for an IDENTIFY it would not accept on this shard, else None."""
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            return 4010, "Invalid shard."
        shard_id, count = shard
        others = [s for s in self._sessions.values() if s.live and s.conn is not conn]
        if any(s.shard == shard_id or s.shard_count != count for s in others):
            return 4010, "Invalid shard."
        if sum((g >> 22) % count == shard_id for g in self.guilds) > self.max_guilds_per_shard:
            return 4011, "Sharding required."
        return None

    def _identify(self, conn: Connection, d: JSON) -> None:
        shard_id, count = d.get("shard", [0, 1])
        old = self._sessions.get(shard_id)
        if old is not None and old.conn is not None and old.conn is not conn:
            old.conn.live = False
        if any(s.shard_count != count for s in self._sessions.values()):
            self._sessions.clear()  # resharded: the old count's sessions are gone (none of them is live)
        self.intents = int(d.get("intents", 0))
        session = Session(secrets.token_hex(16), self.intents, conn=conn, shard=shard_id, shard_count=count)
        self._sessions[shard_id] = session
        conn.live = True
        self.identify_count += 1
        self.identified_shards.append((shard_id, count))
        guilds = [g for g in self.guilds.values() if (g.id >> 22) % count == shard_id]
        ready: JSON = {
            "v": 10,
            "user": (self.users[self.bot_user_id].to_dict() | {"verified": True, "mfa_enabled": False, "flags": 0}),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": ["emulator"],
            "auth_session_id_hash": "",
            "_trace": ["emulator"],
        }
        if "shard" in d:
            ready["shard"] = d["shard"]
        self._dispatch("READY", ready, buffer=False, session=session)  # never replayed
        for guild in guilds:
            self._dispatch("GUILD_CREATE", self._guild_create_payload(guild), session=session)
        self._set_ready()

    def _resume(self, conn: Connection, d: JSON) -> None:
        s = next((s for s in self._sessions.values() if s.session_id == d.get("session_id")), None)
        if s is None or not s.resumable:
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        if s.conn is not None and s.conn is not conn:
            s.conn.live = False
        s.conn = conn
        try:
            seq = int(d.get("seq") or 0)
        except (TypeError, ValueError):
            seq = 0
        for event in s.events:
            if event["s"] > seq:
                conn.send(event)
        conn.live = True
        self.resume_count += 1
        self._dispatch("RESUMED", {}, buffer=False, session=s)
        self._set_ready()

    def _member_chunk(self, d: JSON) -> None:
        guild = self.guilds.get(int(d.get("guild_id") or 0))
        if guild is None:
            return
        wanted = {int(u) for u in (d.get("user_ids") or [])}
        members = [self._member_dict(guild, mem) for uid, mem in guild.members.items() if not wanted or uid in wanted]
        limit = int(d.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "presences": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        self._dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _dispatch(self, event: str, data: JSON, *, buffer: bool = True, session: Session | None = None) -> JSON | None:
        """Send a DISPATCH on ``session`` (default: the shard the event goes to) with its next sequence number;
        kept for RESUME replay. No session: dropped."""
        s = session or self._shard_session(event, data)
        if s is None:
            return None
        s.seq += 1
        payload: JSON = {"op": 0, "t": event, "s": s.seq, "d": data}
        if buffer:
            s.events.append(payload)
        if s.conn is not None and s.conn.live:
            s.conn.send(payload)
        return payload

    def _dispatch_if(self, intent: int, event: str, build: Callable[[], JSON]) -> None:
        data = build()
        s = self._shard_session(event, data)
        if s is not None and s.resumable and s.intents & intent:
            self._dispatch(event, data, session=s)

    def _live_connection(self, shard: int) -> Connection | None:
        s = self._sessions.get(shard)
        return s.conn if s is not None and s.live else None

    async def _await_close(self, conn: Connection, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(conn.closed.wait(), timeout)
        except TimeoutError:
            await conn.ws.close(code=4000)

    async def drop_gateway(self, shard: int = 0) -> None:
        """Abort the TCP connection under the gateway socket (no close frame); the client RESUMEs."""
        conn = self._live_connection(shard)
        if conn is None:
            return
        conn.live = False
        self._set_ready()
        transport = conn.request.transport
        if transport is not None:
            transport.abort()
        await self._await_close(conn)

    async def send_reconnect(self, shard: int = 0) -> None:
        """Send op 7 RECONNECT; the client closes and RESUMEs. Returns once the old socket is closed."""
        conn = self._live_connection(shard)
        if conn is None:
            return
        conn.send({"op": 7, "d": None, "s": None, "t": None})
        conn.live = False
        self._set_ready()
        await self._await_close(conn)

    async def invalidate_session(self, resumable: bool = False, shard: int = 0) -> None:
        """Send op 9; not resumable -> the client must IDENTIFY again (a RESUME would be refused)."""
        conn = self._live_connection(shard)
        if conn is None:
            return
        if not resumable:
            self._sessions[shard].resumable = False
        conn.send({"op": 9, "d": resumable, "s": None, "t": None})
        conn.live = False
        self._set_ready()
        await self._await_close(conn)
