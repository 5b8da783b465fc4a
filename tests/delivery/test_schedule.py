from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.delivery.render import render_digest
from bot.delivery.schedule import (
    ScheduleError,
    latest_due,
    next_due,
    parse_digest_time,
    parse_weekday,
    timezone_choices,
    validate_timezone,
)
from bot.models import DigestSettings, Schedule, Scope, Subscription
from tests.conftest import make_paper

BERLIN = DigestSettings("Europe/Berlin", "09:00", 0)
NEW_YORK = DigestSettings("America/New_York", "02:30", 6)


def _walk(start, schedule, settings, n):
    out, t = [], start
    for _ in range(n):
        t = next_due(t, schedule, settings)
        out.append(t)
    return out


def test_spring_forward_keeps_local_time():
    times = _walk(datetime(2026, 3, 27, 12, tzinfo=UTC), Schedule.DAILY, BERLIN, 4)
    assert [t.astimezone(ZoneInfo("Europe/Berlin")).hour for t in times] == [9, 9, 9, 9]
    assert [t.hour for t in times] == [8, 7, 7, 7]  # CET → CEST on 29 March 2026
    assert [t.day for t in times] == [28, 29, 30, 31]  # no day skipped or doubled


def test_autumn_back_keeps_local_time():
    times = _walk(datetime(2026, 10, 23, 12, tzinfo=UTC), Schedule.DAILY, BERLIN, 4)
    assert [t.hour for t in times] == [7, 8, 8, 8]  # CEST → CET on 25 October 2026
    assert [t.day for t in times] == [24, 25, 26, 27]


def test_nonexistent_and_ambiguous_local_times_fire_once():
    # 02:30 does not exist in New York on 8 March 2026 and happens twice on 1 November 2026 (both Sundays).
    spring = next_due(datetime(2026, 3, 7, tzinfo=UTC), Schedule.WEEKLY, NEW_YORK)
    assert spring.date().isoformat() == "2026-03-08"
    autumn = _walk(datetime(2026, 10, 31, tzinfo=UTC), Schedule.WEEKLY, NEW_YORK, 2)
    assert [t.date().isoformat() for t in autumn] == ["2026-11-01", "2026-11-08"]


def test_weekly_on_the_chosen_day():
    wed = DigestSettings("UTC", "07:30", 2)
    times = _walk(datetime(2026, 11, 2, tzinfo=UTC), Schedule.WEEKLY, wed, 3)
    assert all(t.weekday() == 2 and (t.hour, t.minute) == (7, 30) for t in times)
    assert times[1] - times[0] == timedelta(days=7)


def test_latest_due_collapses_missed_digests():
    start = datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert latest_due(start, start + timedelta(hours=20), Schedule.DAILY, DigestSettings()) is None
    assert latest_due(start, datetime(2026, 11, 5, 12, tzinfo=UTC), Schedule.DAILY, DigestSettings()) == datetime(
        2026, 11, 5, 9, tzinfo=UTC
    )


def test_input_validation():
    assert validate_timezone("europe/berlin") == "Europe/Berlin"
    with pytest.raises(ScheduleError, match="Europe/Berlin"):
        validate_timezone("Europe/Berln")
    assert parse_digest_time("9:05") == "09:05" and parse_digest_time("18h30") == "18:30"
    for bad in ("24:00", "9", "noon", "09:60"):
        with pytest.raises(ScheduleError):
            parse_digest_time(bad)
    assert parse_weekday("Friday") == 4
    with pytest.raises(ScheduleError):
        parse_weekday("someday")
    assert timezone_choices("")[:2] == ["UTC", "Europe/London"]
    assert "Asia/Kolkata" in timezone_choices("kolk")


def test_digest_stays_one_message_with_a_cap():
    sub = Subscription(
        id=3,
        scope=Scope.GUILD,
        guild_id=1,
        channel_id=2,
        user_id=1,
        query="x",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        schedule=Schedule.DAILY,
    )
    papers = [make_paper(n, title="T" * 300, authors=("A" * 300,), upvotes=100 - n) for n in range(40)]
    (embed,) = render_digest(sub, papers, sub.created_at, sub.created_at + timedelta(days=1), cap=25)
    assert embed["title"] == "Daily digest · #3"
    assert len(embed["description"]) <= 4096
    assert embed["description"].startswith("40 new papers matching `x`")
    shown = embed["description"].count("huggingface.co/papers/")
    assert 0 < shown <= 25 and f"…and **{40 - shown}** more matches" in embed["description"]
