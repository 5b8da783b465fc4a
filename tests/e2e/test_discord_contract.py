"""What Discord requires of the bot's commands and answers, end to end: the command payloads within Discord's
limits and install types, a start without User Install, and answers that replace the "thinking" placeholder."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from bot.devtools.emulator.model import LOADING
from tests.e2e.conftest import World

COMMAND_NAME = re.compile(r"[-_'\w]{1,32}")
GUILD_INSTALL, USER_INSTALL = 0, 1


def command_limit_errors(commands: list[dict[str, Any]]) -> list[str]:
    """Every way a bulk command payload breaks Discord's documented limits (application commands: names 1-32
    characters matching Discord's pattern, lowercase; descriptions 1-100; at most 25 options per level and 25
    choices, choice names 1-100 and string values up to 100; at most 4,000 characters of names, descriptions
    and values per command; at most 100 chat-input commands)."""
    errors: list[str] = []
    if sum(1 for c in commands if c.get("type", 1) == 1) > 100:
        errors.append("more than 100 chat-input commands")

    def visit(node: dict[str, Any], where: str) -> int:
        name, description = str(node.get("name", "")), str(node.get("description", ""))
        if not COMMAND_NAME.fullmatch(name) or name != name.lower():
            errors.append(f"{where}: name {name!r} is not 1-32 lowercase name characters")
        if not 1 <= len(description) <= 100:
            errors.append(f"{where}: description is {len(description)} characters (1-100)")
        options, choices = node.get("options") or [], node.get("choices") or []
        if len(options) > 25:
            errors.append(f"{where}: {len(options)} options (at most 25)")
        if len(choices) > 25:
            errors.append(f"{where}: {len(choices)} choices (at most 25)")
        size = len(name) + len(description)
        for choice in choices:
            value = choice["value"]
            if not 1 <= len(choice["name"]) <= 100 or (isinstance(value, str) and len(value) > 100):
                errors.append(f"{where}: choice {choice['name']!r} name or value outside 1-100 characters")
            size += len(choice["name"]) + len(str(value))
        return size + sum(visit(option, f"{where} {option.get('name')}") for option in options)

    for command in commands:
        size = visit(command, "/" + str(command.get("name")))
        if size > 4000:
            errors.append(f"/{command.get('name')}: {size} characters in names, descriptions and values (4000)")
    return errors


def test_the_limit_check_catches_each_limit() -> None:
    ok = {"name": "papers", "description": "d", "options": [{"name": "q", "description": "d", "type": 3}]}
    assert command_limit_errors([ok]) == []
    bad = {
        "name": "Papers",
        "description": "d" * 101,
        "options": [
            {
                "name": "o",
                "description": "d" * 100,
                "type": 3,
                "choices": [{"name": str(i), "value": "v" * 101} for i in range(26)],
            },
            *[{"name": f"n{i}", "description": "d" * 100, "type": 3} for i in range(39)],
        ],
    }
    found = "\n".join(command_limit_errors([bad, *[ok] * 100]))
    for expected in (
        "more than 100",
        "name 'Papers'",
        "description is 101",
        "40 options",
        "26 choices",
        "outside 1-100",
        "characters in names, descriptions and values",
    ):
        assert expected in found


async def test_registered_commands_fit_discords_limits_and_install_types(world: World) -> None:
    world.config.setdefault("discord", {})["dev_guild_id"] = 0  # a global sync, as in production
    bot = await world.start_bot()
    [sync] = world.emulator.find_requests("PUT", r"/applications/\d+/commands")
    sent: list[dict[str, Any]] = sync.json
    # What discord.py sends is what the tree builds: the check covers every command the bot declares.
    assert sent == [command.to_dict(bot.tree) for command in bot.tree._get_all_commands()]
    assert command_limit_errors(sent) == []
    installs = {c["name"]: c["integration_types"] for c in sent}
    assert installs == {
        "subscriptions": [GUILD_INSTALL],  # a channel's deliveries are a server's business
        "alerts": [GUILD_INSTALL, USER_INSTALL],
        "papers": [GUILD_INSTALL, USER_INSTALL],
    }


async def test_bot_starts_when_user_install_is_off(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.emulator.user_install_enabled = False
    caplog.set_level(logging.INFO, logger="bot.app")
    await world.start_bot()
    refused, accepted = world.emulator.find_requests("PUT", r"/applications/\d+/guilds/\d+/commands")
    assert refused.status == 400 and refused.response["code"] == 50035
    assert "integration_types" in str(refused.response["errors"])
    assert accepted.status == 200
    assert {c["name"]: c["integration_types"] for c in world.emulator.guild_commands[world.guild_id]} == {
        "subscriptions": [GUILD_INSTALL],
        "alerts": [GUILD_INSTALL],
        "papers": [GUILD_INSTALL],
    }
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.app" and r.levelno >= logging.WARNING]
    [line] = warnings
    assert "User Install is off" in line and "Installation Contexts -> User Install" in line
    result = await world.subscriptions("list")
    assert result.content.startswith("No subscriptions") and result.ephemeral
    alerts = await world.alerts("list", user_id=world.member_id)
    assert alerts.content.startswith("You have no alerts")


async def test_a_deferred_answer_replaces_the_thinking_placeholder(world: World) -> None:
    await world.start_bot()
    result = await world.subscriptions("list")
    assert result.response_type == 5  # deferred: "paperbot is thinking..."
    assert result.content.startswith("No subscriptions") and result.followups == []
    [edit] = result.edits  # PATCH @original: the user sees the answer where the placeholder was
    assert edit["content"] == result.content
    message = result.message
    assert message["content"] == result.content and not message["flags"] & LOADING

    # The one error path: a command that deferred and then failed answers in the same place.
    bad = await world.emulator.invoke(
        user_id=world.moderator_id,
        name="papers",
        subcommand="search",
        options={"query": "(unclosed"},
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert bad.response_type == 5 and bad.followups == []
    assert "can't be used" in bad.message["content"] and not bad.message["flags"] & LOADING


async def test_bot_keeps_running_when_discord_refuses_the_commands(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.config.setdefault("discord", {})["dev_guild_id"] = 4242  # a server the application is not in
    caplog.set_level(logging.INFO, logger="bot.app")
    bot = await world.start_bot()
    [refused] = world.emulator.find_requests("PUT", r"/applications/\d+/guilds/4242/commands")
    assert refused.status == 403
    errors = [r.getMessage() for r in caplog.records if r.name == "bot.app" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "could not register slash commands" in errors[0] and "50001" in errors[0]
    await world.polls_completed(1)  # still polling
    assert not bot.is_closed()
