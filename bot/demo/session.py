"""One demo session: the real ``PaperBot`` in this process, talking to the loopback Discord emulator and the fake
Hugging Face API (``LoopbackWorld``), with a small reading-group server, sample papers, and a printer for what
each command answered and what each channel, forum post and DM received."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TextIO

from bot.app import PaperBot
from bot.config import settings_from_dict
from bot.demo.commands import CommandLine, Names, parse_command_line
from bot.demo.terminal import JSON, embed_paper_id, plain, render_message
from bot.devtools.emulator import DiscordEmulator, InteractionResult
from bot.devtools.world import LoopbackWorld, Server

SERVER_NAME = "Reading group"
CHANNELS = ("papers", "general")
FORUM, FORUM_TAGS = "paper-forum", ("moe", "surveys", "long-context")  # a forum: one post per paper
STAFF, READER = "ada", "ben"
PING_ROLE = "readers"  # a mentionable role the channel subscription pings
#: How long the session waits for the bot to connect, answer or deliver before it gives up.
STEP_TIMEOUT = 20.0


def sample_papers() -> dict[str, list[JSON]]:
    """The bundled sample papers in the Hugging Face API's shape: ``already_listed`` (catalogued by the first
    poll) and ``new_today`` (what arrives during the demo)."""
    text = (resources.files("bot.demo") / "data" / "sample_papers.json").read_text(encoding="utf-8")
    papers: dict[str, list[JSON]] = json.loads(text)
    return papers


class DemoSession:
    """Start with ``async with DemoSession(out) as session``; act with ``run``, ``publish``; print with
    ``show_new``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.world = LoopbackWorld()
        self.papers = sample_papers()
        self._tmp = tempfile.TemporaryDirectory(prefix="paperbot-demo-")
        self._shown: dict[int, int] = {}  # channel id -> messages already printed
        self.bot: PaperBot | None = None
        self._task: asyncio.Task[None] | None = None
        self.server: Server | None = None

    @property
    def emulator(self) -> DiscordEmulator:
        """The loopback Discord the bot talks to."""
        return self.world.emulator

    async def __aenter__(self) -> DemoSession:
        await self.world.start()
        try:
            await self._start_bot()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start_bot(self) -> None:
        self.server = self.world.add_server(SERVER_NAME, CHANNELS, moderators=(STAFF,), members=(READER,))
        self.emulator.add_role(self.server.guild_id, PING_ROLE, mentionable=True)
        self.emulator.add_forum(self.server.guild_id, FORUM, tags=FORUM_TAGS)
        self.world.hf.publish(datetime.now(UTC).date().isoformat(), self.papers["already_listed"])
        raw = self.world.settings(
            Path(self._tmp.name) / "paperbot.db",
            self.server.guild_id,
            # Only the start-up poll runs by itself; the script polls when papers arrive.
            {"sources": {"huggingface": {"poll_interval": 3600, "timeout": 5}}, "delivery": {"interval": 0.5}},
        )
        self.bot = PaperBot(settings_from_dict(raw))
        self._task = asyncio.create_task(self.bot.start(DiscordEmulator.BOT_TOKEN), name="paperbot-demo")
        await self.emulator.wait_for_ready(timeout=STEP_TIMEOUT)
        await self._until(lambda: self.bot is not None and self.bot.get_guild(self.server_id) is not None)
        await self._first_poll()

    async def _first_poll(self) -> None:
        assert self.bot is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while (state := await self.bot.store.source_state("huggingface")) is None or not state.successes:
            if loop.time() > deadline:
                raise TimeoutError("the first Hugging Face poll did not finish")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Stop the bot, then the loopback servers; remove the temporary database."""
        try:
            if self.bot is not None:
                await self.bot.close()
            if self._task is not None:
                await asyncio.wait_for(self._task, STEP_TIMEOUT)
        finally:
            await self.world.stop()
            self._tmp.cleanup()

    async def _until(self, predicate: Callable[[], bool]) -> None:
        if self._task is not None and self._task.done():
            self._task.result()
        await self.emulator.wait_until(predicate, STEP_TIMEOUT)

    # -- the server and its people --------------------------------------------------------------------------------

    @property
    def server_id(self) -> int:
        """The demo server's guild id."""
        assert self.server is not None
        return self.server.guild_id

    def user_id(self, name: str) -> int:
        """A member of the demo server by name (``ada``, ``ben``)."""
        for uid, user in self.emulator.users.items():
            if user.name == name:
                return uid
        raise KeyError(name)

    def channel_id(self, name: str) -> int:
        """A channel of the demo server by name (``papers``)."""
        return self.names().channels[name]

    def names(self) -> Names:
        """The server's channels and roles by name, for ``#name`` / ``@name`` in typed commands."""
        guild = self.emulator.guilds[self.server_id]
        channels = {str(self.emulator.channels[c].name): c for c in guild.channel_ids}
        roles = {r.name: r.id for r in guild.roles.values() if r.id != guild.id and not r.managed}
        return Names(channels, roles)

    def name_of(self, kind: str, snowflake: int) -> str:
        """How a mention reads: a channel's, role's or user's name (the id when unknown)."""
        if kind == "channel" and (channel := self.emulator.channels.get(snowflake)) is not None:
            return str(channel.name or f"DM with {self._recipient(channel.recipient_id)}")
        if kind == "role" and (role := self.emulator.guilds[self.server_id].roles.get(snowflake)) is not None:
            return role.name
        if kind == "user" and (user := self.emulator.users.get(snowflake)) is not None:
            return user.name
        return str(snowflake)

    def _recipient(self, user_id: int | None) -> str:
        user = self.emulator.users.get(user_id or 0)
        return user.name if user else "someone"

    # -- acting -----------------------------------------------------------------------------------------------

    def parse(self, line: str) -> CommandLine:
        """A typed slash command, checked against the commands the bot registered in the demo server."""
        return parse_command_line(line, self.emulator.guild_commands.get(self.server_id, []), self.names())

    async def run(self, actor: str, line: str, where: str = "general") -> InteractionResult:
        """``actor`` types ``line`` in #``where``; prints the command and the bot's answer."""
        command = self.parse(line)
        self.say(f"{actor} in #{where}: {line}")
        result = await self.emulator.invoke(
            user_id=self.user_id(actor),
            name=command.name,
            subcommand=command.subcommand,
            options=command.options,
            guild_id=self.server_id,
            channel_id=self.channel_id(where),
            timeout=STEP_TIMEOUT,
        )
        who = "only you can see this" if result.ephemeral else "everyone sees this"
        self.say(f"paperbot answers ({who}):")
        self.print_lines(render_message(result.data, self.name_of))
        return result

    async def publish(self, count: int | None = None) -> int:
        """Hugging Face lists the next sample papers; the bot polls and delivers. Returns how many arrived."""
        assert self.bot is not None
        fresh = self.papers["new_today"][:count]
        del self.papers["new_today"][: len(fresh)]
        if not fresh:
            return 0
        self.world.hf.publish(datetime.now(UTC).date().isoformat(), fresh)
        self.say(f"Hugging Face lists {len(fresh)} new papers: " + ", ".join(item["paper"]["id"] for item in fresh))
        await self.bot.poll(next(s for s in self.bot.sources if s.name == "huggingface"))
        await self.delivered()
        return len(fresh)

    async def delivered(self) -> None:
        """Wait until the outbox holds nothing due (every instant delivery went out)."""
        assert self.bot is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while await self.bot.store.outbox_depth():
            if loop.time() > deadline:
                raise TimeoutError("deliveries did not go out in time")
            await self.bot.deliver()
            await asyncio.sleep(0.05)

    # -- printing ---------------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """Print one narration line (``» ...``)."""
        print(f"\n» {text}", file=self.out, flush=True)

    def print_lines(self, lines: list[str]) -> None:
        """Print rendered lines as they are."""
        print("\n".join(lines), file=self.out, flush=True)

    def places(self) -> list[tuple[str, int]]:
        """Every channel, thread and DM the bot posted into, named as a reader would."""
        found = []
        for cid, channel in self.emulator.channels.items():
            if not self.emulator.messages(cid):
                continue
            if channel.recipient_id is not None:
                found.append((f"{self._recipient(channel.recipient_id)}'s DMs", cid))
            elif channel.parent_id is not None and (parent := self.emulator.channels.get(channel.parent_id)):
                found.append((f"#{parent.name} › {channel.name}", cid))
            else:
                found.append((f"#{channel.name}", cid))
        return found

    def show_new(self) -> int:
        """Print what each place received since the last call; returns how many messages were new."""
        new = 0
        for place, cid in self.places():
            messages = self.emulator.messages(cid)[self._shown.get(cid, 0) :]
            self._shown[cid] = self._shown.get(cid, 0) + len(messages)
            for message in messages:
                new += 1
                self.say(f"{place} received:")
                self.print_lines(render_message(message, self.name_of))
        return new

    def summary(self) -> list[str]:
        """Per place, every paper it received: ``#papers: 2403.10778 Squeezed Attention…``."""
        lines = []
        for place, cid in self.places():
            embeds = [e for m in self.emulator.messages(cid) for e in m.get("embeds") or []]
            lines.append(f"{place}: {len(embeds)} paper{'s' if len(embeds) != 1 else ''}")
            lines.extend(f"  {embed_paper_id(e)}  {plain(str(e.get('title') or ''), self.name_of)}" for e in embeds)
        return lines

    def component(self, message: JSON, action: str) -> JSON | None:
        """The first button or select on ``message`` whose custom_id contains ``action`` (``like``, ``save``)."""
        for candidate in self.emulator.walk_components(message.get("components") or []):
            if action in str(candidate.get("custom_id") or ""):
                return candidate
        return None

    async def click(self, actor: str, place: str, action: str) -> InteractionResult:
        """``actor`` clicks the ``action`` control on the newest message in ``place`` that has one."""
        cid = self.channel_id(place)
        for message in reversed(self.emulator.messages(cid)):
            if (found := self.component(message, action)) is not None:
                # A button is pressed; a select (a message of several papers) has its first paper chosen.
                options = found.get("options") or []
                values = [options[0]["value"]] if options else None
                label = found.get("label") or (f"{action} on {options[0]['label']}" if options else action)
                self.say(f"{actor} clicks {label} in #{place}")
                result = await self.emulator.click(
                    user_id=self.user_id(actor),
                    message=message,
                    custom_id=found["custom_id"],
                    values=values,
                    timeout=STEP_TIMEOUT,
                )
                self.print_lines(render_message(result.data, self.name_of))
                return result
        raise LookupError(f"no message in #{place} has a {action!r} control")
