"""Typed slash commands parsed against registered command definitions (Discord's JSON shape)."""

from __future__ import annotations

import pytest

from bot.demo.commands import CommandLine, CommandLineError, Names, parse_command_line

COMMANDS = [
    {
        "name": "subscriptions",
        "type": 1,
        "options": [
            {
                "type": 1,
                "name": "add",
                "options": [
                    {"type": 3, "name": "query", "required": True},
                    {"type": 7, "name": "channel"},
                    {"type": 8, "name": "mention"},
                    {"type": 3, "name": "schedule", "choices": [{"name": "daily digest", "value": "daily"}]},
                    {"type": 4, "name": "backfill"},
                ],
            },
            {"type": 1, "name": "pause", "options": [{"type": 4, "name": "subscription", "required": True}]},
        ],
    },
    {"name": "papers", "type": 1, "options": [{"type": 1, "name": "help"}]},
]
NAMES = Names({"papers": 11, "general": 12}, {"readers": 21})


def test_values_run_to_the_next_option_and_keep_their_quotes_and_colons():
    line = '/subscriptions add query:"long context" OR au:"yann lecun" title:agent channel:#papers backfill:3'
    assert parse_command_line(line, COMMANDS, NAMES) == CommandLine(
        "subscriptions",
        "add",
        {"query": '"long context" OR au:"yann lecun" title:agent', "channel": 11, "backfill": 3},
    )


def test_choices_by_name_or_value_roles_ids_and_no_options():
    by_name = parse_command_line("/subscriptions add query:x schedule:daily digest mention:@readers", COMMANDS, NAMES)
    assert by_name.options == {"query": "x", "schedule": "daily", "mention": 21}
    assert parse_command_line("/subscriptions add query:x schedule:daily", COMMANDS, NAMES).options["schedule"] == (
        "daily"
    )
    assert parse_command_line("/subscriptions pause subscription:#4", COMMANDS, NAMES).options == {"subscription": 4}
    assert parse_command_line("  /papers help ", COMMANDS, NAMES) == CommandLine("papers", "help", {})


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("papers help", "starts with /"),
        ("/", "which command"),
        ("/nope", "/subscriptions, /papers"),
        ("/papers", "needs a subcommand: help"),
        ("/papers helpme", "no 'helpme'"),
        ("/subscriptions add", "missing query:"),
        ("/subscriptions add colour:red query:x", "unknown option"),
        ("/subscriptions add query:x channel:#nowhere", "#papers, #general"),
        ("/subscriptions add query:x schedule:hourly", "daily digest"),
        ("/subscriptions add query:x backfill:lots", "not a number"),
        ("/papers help query:x", "takes no options"),
    ],
)
def test_what_cannot_be_sent_says_why(line: str, says: str):
    with pytest.raises(CommandLineError, match=None) as caught:
        parse_command_line(line, COMMANDS, NAMES)
    assert says in str(caught.value), str(caught.value)
