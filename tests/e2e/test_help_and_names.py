"""``/papers help``, query errors pointing at it, and choice names that read as words (in the payload Discord
receives when the bot syncs its commands)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.e2e.conftest import World


def _choices(options: list[dict[str, Any]], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for option in options:
        where = f"{path} {option['name']}"
        yield from ((where, choice) for choice in option.get("choices") or [])
        yield from _choices(option.get("options") or [], where)


async def test_choice_names_read_as_words_in_the_synced_commands(world: World):
    await world.start_bot()
    synced = world.emulator.guild_commands[world.guild_id]
    found: dict[str, list[str]] = {}  # option path -> choice names
    for command in synced:
        for where, choice in _choices(command["options"], "/" + command["name"]):
            found.setdefault(where, []).append(choice["name"])
            # No enum member names (INSTANT, DAILY): lower-case words or capitalised day names.
            assert not re.fullmatch(r"[A-Z_]{2,}", choice["name"]), (where, choice)
    assert found["/subscriptions add schedule"] == ["instant", "daily digest", "weekly digest"]
    assert found["/alerts add schedule"] == ["instant", "daily digest", "weekly digest"]
    assert found["/subscriptions settings weekly_day"][0] == "Monday"
    # The stored values stay as before: schedule:daily still creates a daily digest subscription.
    schedule = next(o for c in synced if c["name"] == "alerts" for o in c["options"] if o["name"] == "add")
    assert [c["value"] for c in next(o for o in schedule["options"] if o["name"] == "schedule")["choices"]] == [
        "instant",
        "daily",
        "weekly",
    ]
    added = await world.subscriptions("add", query="agents", schedule="daily")
    assert "(daily digest)" in added.content, added.content


async def test_help_explains_queries_schedules_and_lists_every_group(world: World):
    world.config = {"discord": {"dev_guild_id": 0}}  # global commands: usable in DMs too
    await world.start_bot()
    for where in ({"guild_id": world.guild_id, "channel_id": world.channel_id}, {}):  # a server, then a DM
        result = await world.emulator.invoke(user_id=world.member_id, name="papers", subcommand="help", **where)
        assert result.ephemeral
        (embed,) = result.embeds
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert '`"attention sink"`' in fields["Query language"] and "`llm -survey`" in fields["Query language"]
        assert "**daily digest**" in fields["Schedules and options"]
        for group in ("/alerts", "/papers", "/subscriptions"):
            assert f"**{group}**" in fields["Commands"], fields["Commands"]
        assert "`help`" in fields["Commands"] and "`preview`" in fields["Commands"]


async def test_every_query_error_points_at_help(world: World):
    await world.start_bot()
    bad = "(rag OR"
    answers = [
        await world.subscriptions("add", query=bad),
        await world.subscriptions("preview", query=bad),
        await world.alerts("add", user_id=world.member_id, query=bad),
        await world.emulator.invoke(
            user_id=world.member_id,
            name="papers",
            subcommand="search",
            options={"query": bad},
            guild_id=world.guild_id,
            channel_id=world.channel_id,
        ),
    ]
    for answer in answers:
        assert answer.ephemeral and "can't be used" in answer.content, answer.content
        assert answer.content.endswith("`/papers help`."), answer.content
