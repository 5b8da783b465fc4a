"""Digest times: local wall-clock times in an IANA zone, computed in UTC with zoneinfo (DST-correct).

APScheduler's cron trigger can skip a day across DST in a local zone, so digests are not cron jobs:
the delivery job asks :func:`latest_due` on every run and sends whatever digest time has passed.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.models import WEEKDAYS, DigestSettings, Schedule

_TIME_RE = re.compile(r"^\s*([01]?\d|2[0-3])[:.h]([0-5]\d)\s*$")
COMMON_TIMEZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Zurich",
    "Europe/Amsterdam",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Vancouver",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Asia/Jerusalem",
    "Australia/Sydney",
    "Australia/Melbourne",
    "Pacific/Auckland",
    "Africa/Lagos",
    "Africa/Johannesburg",
)


class ScheduleError(ValueError):
    """A timezone, time or weekday the user typed is not valid; the message says how to fix it."""


def _shown(text: str, limit: int = 60) -> str:
    """User input echoed back in an error: quoted, and short."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> str:
    """The canonical IANA name, or ScheduleError with close suggestions."""
    cleaned = name.strip().replace(" ", "_")
    by_lower = {z.lower(): z for z in _zones()}
    if cleaned.lower() in by_lower:
        zone = by_lower[cleaned.lower()]
        try:
            ZoneInfo(zone)
        except ZoneInfoNotFoundError:  # pragma: no cover - listed zones load
            pass
        else:
            return zone
    close = difflib.get_close_matches(cleaned, sorted(_zones()), n=3, cutoff=0.6) if len(cleaned) <= 64 else []
    hint = f" Did you mean {', '.join(close)}?" if close else " Use an IANA name such as Europe/Berlin or UTC."
    raise ScheduleError(f"Unknown timezone {_shown(name)}.{hint}")


def timezone_choices(current: str, limit: int = 25) -> list[str]:
    """Zones for autocomplete: common ones first, then any IANA zone containing the text."""
    needle = current.strip().lower().replace(" ", "_")
    common = [z for z in COMMON_TIMEZONES if needle in z.lower()]
    rest = sorted(z for z in _zones() if needle in z.lower() and z not in common) if needle else []
    return (common + rest)[:limit]


def parse_digest_time(text: str) -> str:
    """``"9:00"``, ``"09:30"``, ``"18h00"`` → ``"HH:MM"``; ScheduleError otherwise."""
    match = _TIME_RE.match(text)
    if not match:
        raise ScheduleError(f"{_shown(text)} is not a time of day; use 24-hour HH:MM, e.g. 09:00 or 18:30.")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_weekday(text: str) -> int:
    key = text.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise ScheduleError(f"{_shown(text)} is not a weekday; use mon, tue, wed, thu, fri, sat or sun.")
    return WEEKDAYS.index(key)


def next_due(after: datetime, schedule: Schedule, settings: DigestSettings) -> datetime:
    """The first digest time strictly after ``after`` (UTC), for a daily or weekly schedule."""
    if schedule is Schedule.INSTANT:
        raise ValueError("instant subscriptions have no digest")
    zone = ZoneInfo(settings.timezone)
    hour, minute = (int(x) for x in settings.digest_time.split(":"))
    day = after.astimezone(zone).date() - timedelta(days=1)
    while True:
        if schedule is Schedule.DAILY or day.weekday() == settings.weekly_day:
            # A wall time skipped by a spring-forward change resolves forward (fold=0 uses the old offset).
            candidate = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
            if candidate > after:
                return candidate
        day += timedelta(days=1)


def day_start(now: datetime, settings: DigestSettings) -> datetime:
    """The start (UTC) of the owner's local day containing ``now``: what ``max_per_day`` counts within."""
    zone = ZoneInfo(settings.timezone)
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone).astimezone(UTC)


def latest_due(period_start: datetime, now: datetime, schedule: Schedule, settings: DigestSettings) -> datetime | None:
    """The latest digest time in (period_start, now], or None. Missed digests collapse into one."""
    due = next_due(period_start, schedule, settings)
    if due > now:
        return None
    while (following := next_due(due, schedule, settings)) <= now:
        due = following
    return due
