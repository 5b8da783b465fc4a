"""Security properties end to end: cooldowns, per-server settings, the token never logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.cogs.budget import UserBudget
from bot.devtools.emulator import (
    EMBED_LINKS,
    MANAGE_CHANNELS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    DiscordEmulator,
    InteractionResult,
)
from bot.models import Owner, SubscriptionStatus
from tests.e2e.conftest import World, today
from tests.e2e.test_papers_commands import papers

MANAGE_GUILD = 1 << 5  # Manage Server


async def test_per_user_cooldown(world: World, items):
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    replies = [(await world.subscriptions("list")).content for _ in range(6)]
    assert all(r.startswith("No subscriptions") for r in replies[:5])
    assert replies[5].startswith("Slow down a little")
    other = await world.subscriptions("list", user_id=world.emulator.owner_id)  # someone else is not slowed
    assert other.content.startswith("No subscriptions")


@pytest.mark.both_drivers
async def test_settings_are_per_server(world: World, items):
    world.config = {"discord": {"dev_guild_id": 0}}
    emulator = world.emulator
    other = emulator.add_guild("Other lab")
    other_channel = emulator.add_channel(other.id, "general")
    admins = emulator.add_role(other.id, "a", MANAGE_CHANNELS | MANAGE_GUILD)
    admin = emulator.add_member(other.id, name="admin", roles=[admins])
    await world.start_bot()
    changed = await emulator.invoke(
        user_id=admin,
        name="subscriptions",
        subcommand="settings",
        options={"timezone": "Asia/Tokyo", "digest_time": "08:00"},
        guild_id=other.id,
        channel_id=other_channel,
    )
    assert "Asia/Tokyo" in changed.content
    mine = await world.subscriptions("settings")
    assert "09:00 (UTC)" in mine.content and "Tokyo" not in mine.content


async def test_token_never_appears_in_logs(world: World, items, caplog):
    caplog.set_level(logging.DEBUG)
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    await world.subscriptions("add", query="attention")
    world.hf.publish(today(), items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.emulator.drop_gateway()
    await world.polls_completed(1)
    await world.stop_bot()
    assert len(caplog.records) > 50
    assert DiscordEmulator.BOT_TOKEN not in caplog.text


# -- who sees which server subscription (issue 16, items 6 and 7) -----------------------------------------------

SECRET = '"project nightingale"'


def _private_channel(world: World, name: str, *, viewers: list[int]) -> int:
    """A channel hidden from @everyone, visible to ``viewers`` (members) and to the bot, which may post there."""
    emulator, guild = world.emulator, world.emulator.guilds[world.guild_id]
    bot_may = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS
    overwrites = [
        {"id": world.guild_id, "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)},
        {"id": guild.bot_role_id, "type": 0, "allow": str(bot_may), "deny": "0"},
    ] + [{"id": viewer, "type": 1, "allow": str(VIEW_CHANNEL), "deny": "0"} for viewer in viewers]
    return emulator.add_channel(world.guild_id, name, overwrites=overwrites)


def _text(result: InteractionResult) -> str:
    """A reply's content and its embeds' descriptions, as one text."""
    return result.content + "".join(e.get("description", "") for e in result.embeds)


async def _id_choices(world: World, user_id: int, channel_id: int) -> list[dict[str, object]]:
    """What autocomplete offers ``user_id`` for /subscriptions pause's id, typed into ``channel_id``."""
    return await world.emulator.autocomplete(
        user_id=user_id,
        name="subscriptions",
        subcommand="pause",
        options={"subscription": ""},
        focused="subscription",
        guild_id=world.guild_id,
        channel_id=channel_id,
    )


def _not_found_shape(text: str, subscription_id: int) -> str:
    return text.replace(f"#{subscription_id}", "#N")


async def test_explain_shows_only_subscriptions_of_channels_the_member_can_view(world: World, items):
    staff = _private_channel(world, "staff", viewers=[world.moderator_id])
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    await world.polls_completed(1)
    owner = world.emulator.owner_id
    await world.subscriptions("add", user_id=owner, query=f"{SECRET} OR attention", channel=staff)  # #1
    await world.subscriptions("add", query="attention")  # #2, in #papers, which everyone reads
    await world.alerts("add", user_id=world.member_id, query="diffusion")  # #3, the member's own alert
    await world.alerts("add", user_id=world.moderator_id, query="agents")  # #4, someone else's alert
    paper = items[0]["paper"]["id"]

    async def explain(user_id: int, **options: object) -> str:
        return _text(await papers(world, "explain", user_id=user_id, paper=paper, **options))

    seen = await explain(world.member_id)
    assert "**#2**" in seen and "**#3** (your alert)" in seen
    assert "**#1**" not in seen and "nightingale" not in seen and str(staff) not in seen
    assert "**#4**" not in seen and "agents" not in seen
    # Ids of what the member may not see answer exactly like ids that do not exist.
    hidden, alien, missing = [await explain(world.member_id, subscription=n) for n in (1, 4, 999)]
    assert "nightingale" not in hidden and _not_found_shape(hidden, 1) == _not_found_shape(missing, 999)
    assert _not_found_shape(alien, 4) == _not_found_shape(missing, 999)
    assert "**#2**" in await explain(world.member_id, subscription=2)
    # Whoever reads the staff channel sees its subscription explained.
    staff_view = await explain(world.moderator_id)
    assert "**#1**" in staff_view and "nightingale" in staff_view and "**#4** (your alert)" in staff_view


async def test_manage_channels_in_one_channel_opens_only_that_channel(world: World, items):
    staff = _private_channel(world, "staff", viewers=[])
    lab = world.other_channel_id
    helper = world.member_id  # may manage #lab only, by a member overwrite there
    world.emulator.update_channel(
        lab, overwrites=[{"id": helper, "type": 1, "allow": str(MANAGE_CHANNELS), "deny": "0"}]
    )
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    await world.polls_completed(1)
    owner = world.emulator.owner_id
    await world.subscriptions("add", user_id=owner, query=SECRET, channel=staff)  # #1
    await world.subscriptions("add", query="attention")  # #2 in #papers
    await world.subscriptions("add", query="diffusion", channel=lab)  # #3 in #lab

    async def as_helper(subcommand: str, **options: object) -> str:
        return _text(await world.subscriptions(subcommand, user_id=helper, channel_id=lab, **options))

    listed = await as_helper("list")
    assert "**#3**" in listed and "**#1**" not in listed and "**#2**" not in listed and "nightingale" not in listed
    missing = await as_helper("pause", subscription=999)
    for hidden in (1, 2):
        refused = await as_helper("pause", subscription=hidden)
        assert _not_found_shape(refused, hidden) == _not_found_shape(missing, 999)
    assert [c["value"] for c in await _id_choices(world, helper, lab)] == [3]
    assert "paused" in await as_helper("pause", subscription=3)
    assert [s.status for s in await world.bot.store.list_subscriptions(Owner.guild(world.guild_id))] == [
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAUSED,
    ]
    # Server-wide digest settings need Manage Server, checked by the bot (not only by Discord's command gate).
    refused = await as_helper("settings", timezone="Asia/Tokyo")
    assert "Manage Server" in refused
    assert "09:00 (UTC)" in await as_helper("settings")  # looking is fine
    assert "Asia/Tokyo" in (await world.subscriptions("settings", user_id=owner, timezone="Asia/Tokyo")).content


@pytest.mark.both_drivers
async def test_alerts_sent_together_cannot_pass_the_cap(world: World, items):
    world.config = {"limits": {"alerts_per_user": 2}}
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    await world.polls_completed(1)
    me = world.member_id
    replies = await asyncio.gather(*(world.alerts("add", user_id=me, query=f"topic{n}") for n in range(5)))
    added = [r.content for r in replies if "added" in r.content]
    refused = [r.content for r in replies if "the most allowed" in r.content]
    assert len(added) == 2 and len(refused) == 3, [r.content for r in replies]
    assert len(await world.bot.store.list_subscriptions(Owner.user(me))) == 2
    listed = await world.alerts("list", user_id=me)
    assert listed.embeds[0]["title"] == "Your 2 alerts"


async def test_only_the_owner_sees_why_a_source_fails(world: World, items):
    world.config = {"discord": {"dev_guild_id": 0}}
    world.hf.publish(today(), items[:5])
    await world.start_bot()
    await world.polls_completed(1)
    world.hf.fail_next(500, times=50)
    store = world.bot.store

    async def failing() -> bool:
        state = await store.source_state("huggingface")
        return state is not None and state.consecutive_failures > 0 and bool(state.last_error)

    deadline = asyncio.get_running_loop().time() + 20
    while not await failing():
        assert asyncio.get_running_loop().time() < deadline, "the poll never failed"
        await asyncio.sleep(0.05)
    state = await store.source_state("huggingface")
    assert state is not None and state.last_error

    async def status(user_id: int, in_dm: bool) -> str:
        return _text(await papers(world, "status", user_id=user_id, in_dm=in_dm))

    error_text = state.last_error[:60]
    for shown in (await status(world.member_id, False), await status(world.member_id, True)):  # server and DM
        assert "**huggingface**" in shown and "degraded" in shown
        assert error_text not in shown and "failure" not in shown
    owner_view = await status(world.emulator.owner_id, True)  # the application's owner, here in a DM
    assert "degraded" in owner_view and error_text in owner_view


# -- one budget for every expensive path ------------------------------------------------------------------------


async def test_expensive_paths_share_one_budget_per_user(world: World, items):
    world.hf.publish(today(), items)
    await world.start_bot()
    await world.polls_completed(1)
    mod, paper = world.moderator_id, items[0]["paper"]["id"]
    await world.subscriptions("add", query="attention")  # no backfill: not expensive
    # A budget of four units that does not refill during the test, so its outcome does not depend on machine speed.
    world.bot.tree.budget = UserBudget(capacity=4, refill_seconds=3600)

    async def autocomplete() -> list[dict[str, object]]:
        return await _id_choices(world, mod, world.channel_id)

    assert [c["value"] for c in await autocomplete()] == [1]  # 0.25 spent
    searched = await papers(world, "search", query="language OR model")  # each command below: 1, none repeated
    assert "Results 1–5" in searched.content
    assert "stored paper" in (await world.subscriptions("preview", query="attention")).content
    assert (await papers(world, "explain", paper=paper)).embeds
    refused = await world.subscriptions("preview", query="diffusion")  # 0.75 left: a fourth command is too much
    assert refused.ephemeral and refused.content.startswith("Slow down a little: try again in")
    assert [len(await autocomplete()) for _ in range(4)] == [1, 1, 1, 0]  # autocomplete costs a quarter
    click = await world.emulator.click(user_id=mod, message=searched.message, custom_id="papers:next")
    assert click.content.startswith("Slow down a little")
    assert "Results 1–5" in (await papers(world, "search", user_id=world.member_id, query="language")).content
    assert "added" in (await world.subscriptions("add", query="diffusion")).content  # no backfill: still free
