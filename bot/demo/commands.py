"""Slash commands typed as text (``/subscriptions add query:"long context" channel:#papers``), turned into
what the emulator's ``invoke`` takes, using the option definitions the bot registered.

Option values are typed as in Discord's own box: no quoting needed, so a query keeps its quotes and colons
(``query:au:"yann lecun" OR title:agent``). A value runs until the next ``name:`` that is one of the command's
options. Channels are given as ``#name``, roles as ``@name``, choices by value or by name (``daily digest``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

OPTION_SUBCOMMAND, OPTION_GROUP = 1, 2
OPTION_INTEGER, OPTION_BOOLEAN, OPTION_CHANNEL, OPTION_ROLE, OPTION_NUMBER = 4, 5, 7, 8, 10


class CommandLineError(ValueError):
    """The line is not a command the bot registered, or an option value cannot be understood."""


@dataclass(frozen=True)
class CommandLine:
    """A parsed line: the command, its subcommand path (``"add"`` or ``"group sub"``) and typed options."""

    name: str
    subcommand: str | None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Names:
    """How ``#channel`` and ``@role`` names map to ids in the server the commands are typed in."""

    channels: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)


def _find(options: list[JSON], kinds: tuple[int, ...], name: str) -> JSON | None:
    return next((o for o in options if o["type"] in kinds and o["name"] == name), None)


def _subcommand_path(command: JSON, words: list[str]) -> tuple[str | None, list[JSON], list[str]]:
    """Walk ``words`` into the command's groups/subcommands; return the path, the leaf's options and the rest."""
    path: list[str] = []
    options: list[JSON] = command.get("options") or []
    while words and any(o["type"] in (OPTION_SUBCOMMAND, OPTION_GROUP) for o in options):
        found = _find(options, (OPTION_SUBCOMMAND, OPTION_GROUP), words[0])
        if found is None:
            subs = ", ".join(o["name"] for o in options if o["type"] in (OPTION_SUBCOMMAND, OPTION_GROUP))
            raise CommandLineError(f"/{command['name']} has no {words[0]!r}; try one of: {subs}")
        path.append(words.pop(0))
        options = found.get("options") or []
    if any(o["type"] in (OPTION_SUBCOMMAND, OPTION_GROUP) for o in options):
        subs = ", ".join(o["name"] for o in options)
        raise CommandLineError(f"/{command['name']} needs a subcommand: {subs}")
    return (" ".join(path) or None), options, words


def _typed(option: JSON, raw: str, names: Names) -> Any:
    kind, name = option["type"], option["name"]
    for choice in option.get("choices") or []:
        if raw in (str(choice["value"]), choice["name"]):
            return choice["value"]
    if option.get("choices"):
        offered = ", ".join(c["name"] for c in option["choices"])
        raise CommandLineError(f"{name}: {raw!r} is not one of: {offered}")
    try:
        if kind == OPTION_INTEGER:
            return int(raw.lstrip("#"))  # "#3" for a subscription id reads naturally
        if kind == OPTION_NUMBER:
            return float(raw)
    except ValueError:
        raise CommandLineError(f"{name}: {raw!r} is not a number") from None
    if kind == OPTION_BOOLEAN:
        return raw.lower() in ("true", "yes", "1", "on")
    if kind in (OPTION_CHANNEL, OPTION_ROLE):
        table, sigil = (names.channels, "#") if kind == OPTION_CHANNEL else (names.roles, "@")
        key = raw.removeprefix(sigil)
        if key not in table:
            raise CommandLineError(f"{name}: no {sigil}{key} here; there are {', '.join(sigil + n for n in table)}")
        return table[key]
    return raw


def parse_command_line(line: str, commands: list[JSON], names: Names) -> CommandLine:
    """Parse a typed slash command against the registered ``commands`` (Discord's JSON for them)."""
    text = line.strip()
    if not text.startswith("/"):
        raise CommandLineError("a command starts with /, e.g. /papers help")
    # The command and subcommand words come before the first option (the first word with a colon).
    match = re.search(r"\S*:", text[1:])
    head, rest = (text[1:], "") if match is None else (text[1 : match.start() + 1], text[match.start() + 1 :])
    words = head.split()
    if not words:
        raise CommandLineError("which command? e.g. /papers help")
    command = next((c for c in commands if c["name"] == words[0] and c.get("type", 1) == 1), None)
    if command is None:
        raise CommandLineError(f"no /{words[0]}; the commands are: {', '.join('/' + c['name'] for c in commands)}")
    subcommand, option_defs, extra = _subcommand_path(command, words[1:])
    if extra:
        raise CommandLineError(f"unexpected {' '.join(extra)!r}; options are written name:value")
    by_name = {o["name"]: o for o in option_defs}
    if not by_name and rest:
        raise CommandLineError(f"/{command['name']} {subcommand or ''} takes no options".replace("  ", " "))
    starts = list(re.finditer(r"(?:^|\s)(" + "|".join(map(re.escape, by_name)) + r"):", rest)) if by_name else []
    if rest and (not starts or starts[0].start() != 0):
        raise CommandLineError(f"unknown option in {rest!r}; the options are: {', '.join(by_name)}")
    options: dict[str, Any] = {}
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(rest)
        options[match.group(1)] = _typed(by_name[match.group(1)], rest[match.end() : end].strip(), names)
    missing = [o["name"] for o in option_defs if o.get("required") and o["name"] not in options]
    if missing:
        raise CommandLineError(f"missing {', '.join(m + ':' for m in missing)}")
    return CommandLine(command["name"], subcommand, options)
