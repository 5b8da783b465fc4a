"""DM alerts, daily/weekly digests on a controllable clock, and upvote thresholds — end to end."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime

from tests.e2e.conftest import FakeClock, World, arxiv_ids
from tests.e2e.test_subscriptions import QUERY, expected_ids

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # a Monday, 06:00 UTC


def _global(world: World) -> None:
    world.config.setdefault("discord", {})["dev_guild_id"] = 0  # global commands: usable in DMs too


async def _boot(world: World, items, count: int = 30) -> FakeClock:
    clock = world.clock = FakeClock(START)
    _global(world)
    world.hf.publish(clock.day(), items[:count])
    await world.start_bot()
    await world.polls_completed(1)
    clock.advance(minutes=1)  # what the test adds next is created after the catalogued backlog was seen
    return clock


def _dm_posts(world: World, user_id: int):
    channel = world.emulator.dm_channel_id(user_id)
    return [] if channel is None else world.emulator.find_requests("POST", rf"/channels/{channel}/messages")


def _id_of(result) -> int:
    found = re.search(r"\*\*#(\d+)\*\*", result.content)
    assert found, result.content
    return int(found.group(1))


async def test_alerts_from_a_server_and_from_dms_are_delivered_by_dm(world: World, items):
    clock = await _boot(world, items)
    reader = world.member_id
    outsider = world.emulator.add_user("outsider")  # shares no server with the bot: user-installed app

    in_guild = await world.alerts("add", user_id=reader, query=QUERY)
    assert in_guild.ephemeral and "Alert **#1** added" in in_guild.content
    in_dm = await world.alerts("add", user_id=outsider, in_dm=True, query="attention")
    assert "Alert **#2** added" in in_dm.content

    world.hf.publish(clock.day(), items[30:])
    await world.wait_until(lambda: world.emulator.dm_channel_id(reader) is not None)
    await world.emulator.wait_for_messages(world.emulator.dm_channel_id(reader), 1)
    await world.emulator.wait_for_messages(world.emulator.dm_channel_id(outsider), 1)
    await world.outbox_drained()
    reader_dm = world.emulator.messages(world.emulator.dm_channel_id(reader))
    assert sorted(arxiv_ids(reader_dm)) == sorted(expected_ids(items[30:]))
    assert "subscription #1" in reader_dm[0]["embeds"][0]["footer"]["text"]
    assert world.emulator.messages(world.channel_id) == []  # alerts never post in the channel

    # The DM channel is opened once per user and remembered (also across a restart).
    extra = copy.deepcopy(items[44])
    extra["paper"]["id"] = "2403.99999"
    await world.stop_bot()
    await world.start_bot()
    world.hf.publish(clock.day(), [extra])
    await world.emulator.wait_for_messages(world.emulator.dm_channel_id(reader), 2)
    opens = world.emulator.find_requests("POST", r"/users/@me/channels")
    assert sorted(int(r.json["recipient_id"]) for r in opens) == sorted([reader, outsider])

    listed = await world.alerts("list", user_id=reader, in_dm=True)
    assert "**#1**" in listed.embeds[0]["description"] and "#2" not in listed.embeds[0]["description"]


async def test_closed_dms_pause_only_that_users_alerts(world: World, items):
    clock = await _boot(world, items)
    closed = world.emulator.add_member(world.guild_id, user_id=world.emulator.add_user("private", dms_closed=True))
    await world.alerts("add", user_id=closed, query=QUERY)
    await world.alerts("add", user_id=closed, query="attention")
    await world.alerts("add", user_id=world.member_id, query=QUERY)

    world.hf.publish(clock.day(), items[30:])
    await world.wait_until(lambda: world.emulator.dm_channel_id(world.member_id) is not None)
    await world.emulator.wait_for_messages(world.emulator.dm_channel_id(world.member_id), 1)
    await world.polls_completed(2)
    await world.outbox_drained()
    assert len(_dm_posts(world, closed)) == 1  # one refusal, then paused: no retries
    assert [r.status for r in _dm_posts(world, closed)] == [403]
    listed = (await world.alerts("list", user_id=closed)).embeds[0]["description"]
    assert listed.count("paused (DMs closed)") == 2
    assert sorted(arxiv_ids(world.emulator.messages(world.emulator.dm_channel_id(world.member_id)))) == sorted(
        expected_ids(items[30:])
    )


async def test_users_cannot_see_or_touch_each_others_alerts(world: World, items):
    await _boot(world, items)
    owner, other = world.member_id, world.moderator_id
    await world.alerts("add", user_id=owner, query="secret project")
    for sub in ("remove", "pause", "resume"):
        result = await world.alerts(sub, user_id=other, alert=1)
        assert "Alert #1 was not found" in result.content
    assert (await world.alerts("list", user_id=other)).content.startswith("You have no alerts")
    choices = await world.emulator.autocomplete(
        user_id=other,
        name="alerts",
        subcommand="remove",
        options={"alert": ""},
        focused="alert",
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert choices == []
    mine = await world.emulator.autocomplete(
        user_id=owner,
        name="alerts",
        subcommand="remove",
        options={"alert": ""},
        focused="alert",
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert [c["value"] for c in mine] == [1]
    # Alert ids are not subscription ids of the server either.
    assert "not found" in (await world.subscriptions("remove", subscription=1)).content


async def test_alert_cap(world: World, items):
    world.config = {"limits": {"alerts_per_user": 2}}
    await _boot(world, items)
    for n in (1, 2):
        assert "added" in (await world.alerts("add", user_id=world.member_id, query=f"topic{n}")).content
    assert "already have 2 alerts" in (await world.alerts("add", user_id=world.member_id, query="t3")).content


async def test_daily_digest_is_one_message_at_digest_time(world: World, items):
    clock = await _boot(world, items)
    added = await world.subscriptions("add", query=QUERY, schedule="daily")
    assert "daily digest" in added.content and "09:00 (UTC)" in added.content
    ranked = copy.deepcopy(items[30:])
    for n, item in enumerate(ranked):
        item["paper"]["upvotes"] = n  # later items have more upvotes
    world.hf.publish(clock.day(), ranked)
    await world.polls_completed(2)
    assert world.emulator.messages(world.channel_id) == []  # held for the digest

    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))
    (digest,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    (embed,) = digest["embeds"]
    assert embed["title"] == "Daily digest · #1"
    want = expected_ids(ranked)
    assert embed["description"].startswith(f"{len(want)} new papers matching")
    order = re.findall(r"huggingface\.co/papers/(\d{4}\.\d{5})", embed["description"])
    upvotes = {i["paper"]["id"]: i["paper"]["upvotes"] for i in ranked}
    assert order == sorted(want, key=lambda i: -upvotes[i])  # ordered by upvotes

    # Nothing new → no digest the next day; restarting does not resend.
    await world.stop_bot()
    clock.set(datetime(2026, 11, 3, 9, 0, 1, tzinfo=UTC))
    await world.start_bot()
    await world.polls_completed(2)
    assert len(world.emulator.messages(world.channel_id)) == 1
    listed = (await world.subscriptions("list")).embeds[0]["description"]
    assert f"{len(want)} delivered" in listed and "daily digest" in listed


async def test_missed_digests_are_sent_once_when_the_bot_returns(world: World, items):
    clock = await _boot(world, items)
    settings = await world.alerts(
        "settings", user_id=world.member_id, timezone="europe/berlin", digest_time="7:30", weekly_day="wed"
    )
    assert "Europe/Berlin" in settings.content and "07:30" in settings.content and "Wednesday" in settings.content
    await world.alerts("add", user_id=world.member_id, query=QUERY, schedule="weekly")
    world.hf.publish(clock.day(), items[30:])
    await world.polls_completed(2)
    await world.stop_bot()

    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # two Wednesdays (4th, 11th, 18th) passed while down
    await world.start_bot()
    await world.wait_until(lambda: world.emulator.dm_channel_id(world.member_id) is not None)
    (digest,) = await world.emulator.wait_for_messages(world.emulator.dm_channel_id(world.member_id), 1)
    assert digest["embeds"][0]["title"] == "Weekly digest · #1"
    await world.polls_completed(2)
    assert len(world.emulator.messages(world.emulator.dm_channel_id(world.member_id))) == 1


async def test_bad_settings_get_helpful_errors(world: World, items):
    await _boot(world, items)
    owner = world.emulator.owner_id  # changing server-wide settings needs Manage Server
    tz = await world.subscriptions("settings", user_id=owner, timezone="Europe/Berln")
    assert "Unknown timezone" in tz.content and "Europe/Berlin" in tz.content
    assert "HH:MM" in (await world.subscriptions("settings", user_id=owner, digest_time="25:00")).content
    shown = await world.subscriptions("settings")
    assert "09:00 (UTC)" in shown.content and "Monday" in shown.content
    choices = await world.emulator.autocomplete(
        user_id=world.moderator_id,
        name="subscriptions",
        subcommand="settings",
        options={"timezone": "berl"},
        focused="timezone",
        guild_id=world.guild_id,
        channel_id=world.channel_id,
    )
    assert [c["value"] for c in choices] == ["Europe/Berlin"]


async def test_upvote_threshold_is_crossed_once(world: World, items):
    clock = await _boot(world, items)
    await world.subscriptions("add", query=QUERY, min_upvotes=50)
    fresh = copy.deepcopy(items[30:])
    for item in fresh:
        item["paper"]["upvotes"] = 10
    world.hf.days[clock.day()] = items[:30] + fresh
    await world.polls_completed(2)
    assert world.emulator.messages(world.channel_id) == []

    crossing = expected_ids(fresh)[0]
    for item in fresh:
        if item["paper"]["id"] == crossing:
            item["paper"]["upvotes"] = 60
    clock.advance(hours=3)
    (message,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    assert arxiv_ids([message]) == [crossing]
    for item in fresh:
        if item["paper"]["id"] == crossing:
            item["paper"]["upvotes"] = 75
    await world.polls_completed(3)
    assert len(world.emulator.messages(world.channel_id)) == 1


async def test_alerts_are_installable_to_users_and_usable_in_dms(world: World, items):
    await _boot(world, items)
    group = next(c for c in world.emulator.global_commands if c["name"] == "alerts")
    assert sorted(group["integration_types"]) == [0, 1]  # guild install + user install
    assert sorted(group["contexts"]) == [0, 1, 2]  # guild, bot DM, private channels
    assert group.get("default_member_permissions") is None
    subs = next(c for c in world.emulator.global_commands if c["name"] == "subscriptions")
    assert subs.get("dm_permission") is False or subs.get("contexts") == [0]


async def test_opening_dms_too_fast_backs_off_then_delivers(world: World, items):
    clock = await _boot(world, items)
    await world.alerts("add", user_id=world.member_id, query=QUERY)
    world.emulator.fail_next(
        "POST", r"/users/@me/channels", status=403, code=40003, message="You are opening direct messages too fast."
    )
    world.hf.publish(clock.day(), items[30:])
    await world.wait_until(lambda: bool(world.emulator.find_requests("POST", r"/users/@me/channels")))
    await world.polls_completed(2)
    assert (
        world.emulator.dm_channel_id(world.member_id) is None
        or world.emulator.messages(world.emulator.dm_channel_id(world.member_id)) == []
    )
    listed = (await world.alerts("list", user_id=world.member_id)).embeds[0]["description"]
    assert "active" in listed  # backing off, not paused
    clock.advance(seconds=30)
    await world.wait_until(lambda: world.emulator.dm_channel_id(world.member_id) is not None)
    await world.emulator.wait_for_messages(world.emulator.dm_channel_id(world.member_id), 1)
    opens = world.emulator.find_requests("POST", r"/users/@me/channels")
    assert [r.status for r in opens] == [403, 200]


async def test_a_digest_interrupted_by_a_crash_is_not_sent_twice(world: World, items):
    clock = await _boot(world, items)
    await world.subscriptions("add", query=QUERY, schedule="daily")
    world.hf.publish(clock.day(), items[30:])
    await world.polls_completed(2)
    clock.set(datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC))
    (digest,) = await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.polls_completed(1)
    await world.stop_bot()
    # As if the bot had died after Discord accepted the digest but before recording it, 10 minutes before now.
    clock.set(datetime(2026, 11, 2, 9, 10, 1, tzinfo=UTC))
    await world.execute_sql(
        "UPDATE deliveries SET status = 'held', message_id = NULL, attempted_at = :at",
        {"at": datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC).isoformat()},
    )
    await world.execute_sql("UPDATE subscriptions SET last_digest_at = NULL")
    await world.start_bot()
    await world.polls_completed(2)
    assert len(world.emulator.messages(world.channel_id)) == 1
    assert world.emulator.find_requests("GET", rf"/channels/{world.channel_id}/messages")
    record = await world.bot.store.delivery_record(1, expected_ids(items[30:])[0])
    assert record.status == "sent" and record.message_id == int(digest["id"])
